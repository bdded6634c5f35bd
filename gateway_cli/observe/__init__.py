"""What the gateway tells its operators about the traffic through it.

A request's Trace (request/trace.py) becomes, when it ends: one access log
line (access_log.py), updates to the Prometheus metrics (gateway_metrics.py)
and one record in the tamper-evident request log (record.py, written off the
request path by auditlog/writer.py). observer.py in server/ ties them up.
"""
