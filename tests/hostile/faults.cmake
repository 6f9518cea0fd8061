# Group faults: what a failing machine or a dying peer does to the stack.
#   faults_shm_full    XWAY_HOST on a full tmpfs: TCP with a reason, no SIGBUS
xw_test(faults_shm_full SCRIPT faults_shm_full.sh TIMEOUT 90 LABELS hostile)
