# Shared by the bench scripts: the machine-readable result line bench/run-all collects into bench/RESULTS.md, and
# a median/spread helper for repeated alternating runs. Source it (fastapi_seed/servers.sh does).
#
#   RESULT|scenario|inboxd figure|alternative figure|ratio|goal|met
#
# `met` is yes, no or n/a (no goal, or nothing to compare). QUICK=1 (make bench-quick) asks scripts for small
# sizes and one run each.
QUICK=${QUICK:-0}

result() { # scenario inboxd alternative ratio goal met
  printf 'RESULT|%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2 }'; }
# "±X%": half the range of the numbers given, relative to their median (0 for one number).
spread() { local m; m=$(median "$@"); printf '%s\n' "$@" | sort -g | awk -v m="$m" 'NR==1 {lo=$1} {hi=$1} END { if (m == 0) print "±0%"; else printf "±%.0f%%\n", 50 * (hi - lo) / m }'; }
# yes when `a OP b` holds (OP one of >= <= > <), else no.
meets() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN { r = (op == ">=") ? a >= b : (op == "<=") ? a <= b : (op == ">") ? a > b : a < b; print (r ? "yes" : "no") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
