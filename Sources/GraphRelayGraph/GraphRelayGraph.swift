// Microsoft Graph delivery: HTTP/1.1 client over GraphRelayTLS, token providers, sendMail.
