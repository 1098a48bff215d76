#!/usr/bin/env bash
# normalize-speeds: an external ingest app for tenant A's speed measurements (see the README,
# "External ingest apps: the contract").
#
# Reads the CSV at $INPUT_PATH (with a header; gzip'd if its name ends in .gz; quoted fields may not
# span lines), trims every field, upper-cases PROVINCECODE, converts SPEEDIN and SPEEDOUT from
# kbit/s to Mbit/s, drops rows with a negative speed, and writes one JSON object per row to stdout.
# A value that is not a number where the schema wants one is passed on as a string, so that Sluice
# rejects the row with a reason; an empty value becomes null. A summary goes to stderr.
set -euo pipefail
: "${INPUT_PATH:?INPUT_PATH is not set}"

case "$INPUT_PATH" in
  *.gz) gzip -dc -- "$INPUT_PATH" ;;
  *) cat -- "$INPUT_PATH" ;;
esac | awk '
BEGIN {
    columns = split("PROVINCECODE DEVICEID IFINDEX FRAME SLOT PORT ONUINDEX ONUID TIME SPEEDIN SPEEDOUT", names, " ")
    split("IFINDEX FRAME SLOT PORT ONUINDEX ONUID", list, " ")
    for (i in list) type[list[i]] = "int"
    type["SPEEDIN"] = type["SPEEDOUT"] = "speed"
    for (i = 1; i < 32; i++) escaped[sprintf("%c", i)] = sprintf("\\u%04x", i)
    escaped["\\"] = "\\\\"
    escaped["\""] = "\\\""
    special = "[\\\\\"" sprintf("%c", 1) "-" sprintf("%c", 31) "]"
    written = dropped = 0
}

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

# Splits one CSV line into fields[1..n] (RFC 4180 quotes) and returns n.
function parse(line, fields,    n, i, c, field, quoted) {
    split("", fields)
    if (index(line, "\"") == 0) return split(line, fields, ",")
    n = 0
    field = ""
    quoted = 0
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (quoted && c == "\"" && substr(line, i + 1, 1) == "\"") { field = field c; i++ }
        else if (c == "\"") quoted = !quoted
        else if (!quoted && c == ",") { fields[++n] = field; field = "" }
        else field = field c
    }
    fields[++n] = field
    return n
}

function number(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }

function string(s,    out, i, c) {
    if (s !~ special) return "\"" s "\""
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        out = out (c in escaped ? escaped[c] : c)
    }
    return "\"" out "\""
}

# An integer without sign or leading zeros JSON does not allow.
function integer(s,    sign) {
    sign = substr(s, 1, 1) == "-" ? "-" : ""
    sub(/^[-+]/, "", s)
    sub(/^0+/, "", s)
    return s == "" ? "0" : sign s
}

function megabits(kilobits,    s) {
    s = sprintf("%.6f", kilobits / 1000)
    sub(/0+$/, "", s)
    sub(/\.$/, "", s)
    return s
}

function json(name, s) {
    if (s == "") return "null"
    if (type[name] == "int" && s ~ /^[-+]?[0-9]+$/) return integer(s)
    if (type[name] == "speed" && number(s)) return megabits(s + 0)
    return string(s)
}

{ sub(/\r$/, "") }

NR == 1 {
    sub(/^\357\273\277/, "")
    n = parse($0, header)
    for (i = 1; i <= n; i++) position[toupper(trim(header[i]))] = i
    for (i = 1; i <= columns; i++) {
        if (!(names[i] in position)) {
            print "normalize-speeds: the header has no column " names[i] > "/dev/stderr"
            invalid = 1
        }
    }
    if (invalid) exit 2
    next
}

/^[ \t]*$/ { next }

{
    parse($0, fields)
    for (i = 1; i <= columns; i++) value[names[i]] = trim(fields[position[names[i]]])
    value["PROVINCECODE"] = toupper(value["PROVINCECODE"])
    if ((number(value["SPEEDIN"]) && value["SPEEDIN"] + 0 < 0) || (number(value["SPEEDOUT"]) && value["SPEEDOUT"] + 0 < 0)) {
        dropped++
        next
    }
    line = "{"
    for (i = 1; i <= columns; i++) line = line (i > 1 ? "," : "") "\"" names[i] "\":" json(names[i], value[names[i]])
    print line "}"
    written++
}

END {
    if (!invalid) printf "normalize-speeds: %d rows written, %d dropped (negative speed)\n", written, dropped > "/dev/stderr"
}
'
