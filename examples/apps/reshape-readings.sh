#!/usr/bin/env bash
# reshape-readings: an external stream app for tenant C's sensor readings (see the README, "External
# stream apps: the contract").
#
# Devices send nested messages, one JSON object per line on stdin:
#   {"device": {"id": "s-17", "site": "hall"}, "reading": {"t": 1700000000000, "fahrenheit": 70.7}}
# For each line this writes exactly one line on stdout: the flat record tenant C's schema wants, with the
# temperature converted to Celsius (rounded to 0.01) and the site kept as a note,
#   {"sensor":"s-17","at":1700000000000,"celsius":21.5,"note":"hall"}
# or, for a line that is not such a message, a drop marker saying why:
#   {"_sluice_drop":"no temperature reading"}
# Lines are read raw, so even one that is not JSON gets its answer. --unbuffered writes every answer at
# once: Sluice waits for one line per message.
set -euo pipefail
exec jq --raw-input --compact-output --unbuffered '
  (try fromjson catch null) as $message
  | (($message | objects | .reading | objects | .fahrenheit | numbers) // null) as $fahrenheit
  | if $fahrenheit == null then
      {_sluice_drop: (if $message == null then "not JSON" else "no temperature reading" end)}
    else
      {sensor: ($message.device.id | tostring),
       at: $message.reading.t,
       celsius: ((($fahrenheit - 32) * 5 / 9 * 100 | round) / 100),
       note: $message.device.site}
    end'
