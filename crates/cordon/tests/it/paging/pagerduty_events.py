"""Sends events to Cordon with the `pagerduty` package's own Events API v2 client.

Usage: pagerduty_events.py BASE_URL CA_FILE

The client accepts only an https base URL (its `base_url` argument, checked by the `url`
setter), so the test puts a TLS terminator in front of Cordon, as a reverse proxy would be,
and passes the CA that signed its certificate; extra keyword arguments go to the client's
HTTP layer, which takes `verify`.

Reads one JSON command per line on stdin and answers each with one JSON line on stdout:

    {"do": "trigger", "routing_key": K, "summary": S, "source": S, "severity": S,
     "dedup_key": optional, "custom_details": optional}
    {"do": "acknowledge" | "resolve", "routing_key": K, "dedup_key": D}
    {"do": "send_event", "routing_key": K, "action": A, "payload": {...}}

    -> {"dedup_key": D}
    -> {"error": "HttpError", "status": 400, "body": {...}, "message": "..."}
"""

import json
import ssl
import sys

import pagerduty


def run(client, command):
    action = command["do"]
    if action == "trigger":
        return client.trigger(
            command["summary"],
            command["source"],
            dedup_key=command.get("dedup_key"),
            severity=command["severity"],
            custom_details=command.get("custom_details"),
        )
    if action == "acknowledge":
        return client.acknowledge(command["dedup_key"])
    if action == "resolve":
        return client.resolve(command["dedup_key"])
    if action == "send_event":
        return client.send_event(command["action"], payload=command["payload"])
    raise ValueError(f"unknown command {action!r}")


def main():
    base_url, ca_file = sys.argv[1:3]
    tls = ssl.create_default_context(cafile=ca_file)
    for line in sys.stdin:
        command = json.loads(line)
        client = pagerduty.EventsApiV2Client(command["routing_key"], base_url=base_url, verify=tls)
        try:
            answer = {"dedup_key": run(client, command)}
        except pagerduty.HttpError as err:
            try:
                body = err.response.json()
            except ValueError:
                body = err.response.text
            answer = {
                "error": type(err).__name__,
                "status": err.response.status_code,
                "body": body,
                "message": str(err),
            }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
