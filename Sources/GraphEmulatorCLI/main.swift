print("graph-emulator")
