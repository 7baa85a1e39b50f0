"""Which parallelism model pays off here? The quiz, measured in one run.

    python benchmarks/bench_parallel.py                # default size (1e7 doubles), all modes
    python benchmarks/bench_parallel.py --size 1e8 --workloads np_sincos,np_norm --repeats 3
    python benchmarks/bench_parallel.py --quick

Prints, for each workload, the speedup of threads, fork/spawn processes, shared memory,
own-GIL sub-interpreters and OpenMP over sequential, with the spread of the repeats, the
start-up cost of each kind of worker, and a conclusion. Same as `ft-audit bench`; needs
numpy, and `pip install -e .` for the ftaudit_ext workloads.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
