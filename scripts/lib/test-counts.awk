# The counts a test runner printed in its log, as "PASSED FAILED" (scripts/test adds them up):
# node's "ℹ pass N" and "ℹ fail N" lines, and pytest's summary line ("1 failed, 862 passed,
# 2 errors in 59.43s", bordered with "=" or not). Only those lines: a test's own output (the
# "1 error; 4 warnings" of a Pulumi run a test fails on purpose) is no count.
/^ℹ pass [0-9]+$/ { passed += $3 }
/^ℹ fail [0-9]+$/ { failed += $3 }
/^(=+ )?[0-9]+ [a-z]+(, [0-9]+ [a-z]+)* in [0-9.]+s/ {
  for (i = 1; i < NF; i++) {
    word = $(i + 1)
    sub(/,$/, "", word)
    if (word == "passed") passed += $i
    if (word == "failed" || word == "error" || word == "errors") failed += $i
  }
}
END { print passed + 0, failed + 0 }
