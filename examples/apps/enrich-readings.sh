#!/usr/bin/env bash
# enrich-readings: an external stream app for tenant D's machine readings (see the README, "External stream
# apps: the contract").
#
# Machines send flat messages, one JSON object per line on stdin:
#   {"machine":"m-7","at":1700000000000,"rpm":1450}
# For each line this writes exactly one line on stdout: the reading with the production line the machine
# belongs to, looked up in the plant's inventory,
#   {"machine":"m-7","at":1700000000000,"rpm":1450,"line":"line-4"}
# or, for a line without a machine id, a drop marker saying why:
#   {"_sluice_drop":"no machine id"}
#
# The inventory lookup is simulated: instant, but 30 ms for three minutes in every eight (minutes 5 to 7 of
# each eight by the clock), when one instance keeps up with about 30 messages a second. `sluice demo` sends 40.
set -uo pipefail
while IFS= read -r message; do
    if (( EPOCHSECONDS / 60 % 8 >= 5 )); then sleep 0.03; fi
    if [[ $message =~ \"machine\":\"m-([0-9]+)\" && $message == *\} ]]; then
        printf '%s,"line":"line-%d"}\n' "${message%\}}" $(( BASH_REMATCH[1] % 4 + 1 ))
    else
        printf '{"_sluice_drop":"no machine id"}\n'
    fi
done
