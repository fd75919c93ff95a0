// The SMTP listener: protocol core and SwiftNIO server.
