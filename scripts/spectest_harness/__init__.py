"""The spec-testsuite harness behind ``scripts/spectest.py`` (the script the README names).

One job per module:

* ``suites``   -- the 2.0 and 3.0 suites: where their data lives, which scripts are skipped by
  name (the GC proposal's), the feature each script belongs to;
* ``values``   -- script values: arguments as raw bits, result patterns (floats by bits, NaN
  patterns, v128 lanes, references, ``either``);
* ``judge``    -- one script's commands judged against a fresh engine (runs in a child);
* ``pool``     -- every script in its own forked child, ``-j`` at a time, and their results;
* ``expected`` -- the checked-in expected-failures file (per script: how many commands fail);
* ``summary``  -- the failure summary by feature and by cause.
"""
