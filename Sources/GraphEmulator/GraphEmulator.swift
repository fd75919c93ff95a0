// A Microsoft Graph stand-in for tests and the demo.
