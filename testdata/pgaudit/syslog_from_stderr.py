#!/usr/bin/env python3
"""SYNTHESIZES postgresql-syslog.synthetic.log from postgresql.log (REAL).

Part 3 of the fixture workload also went to syslog; that file is kept back
for acceptance tests. This rebuilds what it looks like from the real stderr
records of part 3 (pids 12336, 12337), with PostgreSQL 15's write_syslog()
(src/backend/utils/error/elog.c): one chunk per line of the record, lines
longer than PG_SYSLOG_LIMIT (900) cut at the last space before the limit
(the space starts the next chunk), `[seq-chunk] ` markers with a per-process
sequence number, and rsyslog's escaping of the TAB that starts continuation
lines as `#011`, in RSYSLOG_TraditionalFileFormat.

Usage: python3 syslog_from_stderr.py < postgresql.log > postgresql-syslog.synthetic.log
"""
import re, sys, datetime

LIMIT = 900
START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[(\d+)\] ")

records = []
for line in sys.stdin.read().split("\n"):
    m = START.match(line)
    if m:
        records.append([m.group(1), int(m.group(2)), line])
    elif line.startswith("\t") and records:
        records[-1][2] += "\n" + line

seq = {}
out = []
for stamp, pid, text in records:
    if pid not in (12336, 12337):
        continue
    seq[pid] = seq.get(pid, 0) + 1
    when = datetime.datetime.fromisoformat(stamp)
    header = when.strftime("%b ") + f"{when.day:>2}" + when.strftime(" %H:%M:%S") + f" vm postgres[{pid}]: "
    chunk = 0
    rest = text
    while rest:
        if rest[0] == "\n":
            rest = rest[1:]
            continue
        nl = rest.find("\n")
        buflen = min(nl if nl >= 0 else len(rest), LIMIT)
        if buflen < len(rest) and not rest[buflen].isspace():
            i = buflen - 1
            while i > 0 and not rest[i].isspace():
                i -= 1
            if i > 0:
                buflen = i
        chunk += 1
        piece = rest[:buflen].replace("\t", "#011")
        out.append(f"{header}[{seq[pid]}-{chunk}] {piece}")
        rest = rest[buflen:]
print("\n".join(out))
