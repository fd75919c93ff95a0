#!/usr/bin/env python3
"""SMTP client for graph-relay's end-to-end tests, on Python's smtplib.

Reads a JSON job from stdin:
  {"mode": "plain" | "starttls" | "smtps", "port": N, "ca": PATH,
   "user": NAME?, "password": TEXT?, "sourceAddress": "127.0.0.2"?, "timeout": SECONDS?,
   "messages": [{"from": ADDR, "to": [ADDR, ...], "data": BASE64 | "file": PATH, "mailOptions": [..]?,
                 "newConnection": BOOL?}]}
sends every message in one session (or a new one where asked) with MAIL/RCPT/DATA and prints a
JSON list with one result per message: the stage that ended it (`mail`, `rcpt`, `data`) and the
server's code and text. The message bytes are sent as given (smtplib only dot-stuffs them).
"""

import base64
import json
import smtplib
import ssl
import sys


def connect(job, context):
    source = (job["sourceAddress"], 0) if job.get("sourceAddress") else None
    if job["mode"] == "smtps":
        s = smtplib.SMTP_SSL("127.0.0.1", job["port"], context=context, timeout=job.get("timeout", 30), source_address=source)
    else:
        s = smtplib.SMTP("127.0.0.1", job["port"], timeout=job.get("timeout", 30), source_address=source)
    s.ehlo("smtplib.e2e")
    if job["mode"] == "starttls":
        s.starttls(context=context)
        s.ehlo("smtplib.e2e")
    if job.get("user"):
        s.login(job["user"], job["password"])
    return s


def main():
    job = json.load(sys.stdin)
    context = ssl.create_default_context(cafile=job["ca"])
    results = []
    session = connect(job, context)
    for message in job["messages"]:
        if message.get("newConnection") and results:
            try:
                session.quit()
            except smtplib.SMTPException:
                pass
            session = connect(job, context)
        result = send(session, message)
        results.append(result)
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        pass
    print(json.dumps(results))


def send(session, message):
    code, text = session.mail(message["from"], message.get("mailOptions", []))
    if code != 250:
        session.rset()
        return {"stage": "mail", "code": code, "text": text.decode("utf-8", "replace")}
    for recipient in message["to"]:
        code, text = session.rcpt(recipient)
        if code not in (250, 251):
            session.rset()
            return {"stage": "rcpt", "code": code, "text": text.decode("utf-8", "replace")}
    if "file" in message:
        with open(message["file"], "rb") as f:
            data = f.read()
    else:
        data = base64.b64decode(message["data"])
    code, text = session.data(data)
    if code != 250:
        session.rset()
    return {"stage": "data", "code": code, "text": text.decode("utf-8", "replace")}


if __name__ == "__main__":
    main()
