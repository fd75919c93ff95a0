print("graph-relay")
