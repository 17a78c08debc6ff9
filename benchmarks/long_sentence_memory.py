"""Memory and time of one huge unpunctuated sentence (issue 26, item 16): each function is run
through SQL in a fresh process on one text of N MB of words with no sentence end, and the growth
of the process's peak resident memory (VmHWM) over the query is reported, beside the same figure
for sentiment_score, which reads one window of the text.

    python benchmarks/long_sentence_memory.py [--mb 2] [--opinions-mb 0.2] [--rounds 1]

Linux only (reads /proc/self/status). Each measurement is a new Python process: peak memory
never goes down within one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PHRASE = "the screen is fine and the battery lasts all day but the case feels cheap "

CHILD = """
import json, sys, time, duckdb, sentiment_udf
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
con = duckdb.connect()
sentiment_udf.register(con)
con.execute("SET enable_progress_bar = false")
function, megabytes, phrase = sys.argv[1], float(sys.argv[2]), sys.argv[3]
con.execute(f"SELECT {function}('The screen is fine.')").fetchall()  # models loaded
size = int(megabytes * 1e6)  # numbered phrases: no two windows alike (none answered twice)
text = "".join(phrase.replace("battery", f"battery {i}") for i in range(size // len(phrase) + 1))
text = text[:size]
before, started = peak_mb(), time.perf_counter()
value = con.execute(f"SELECT {function}(?)", [text]).fetchall()[0][0]
seconds = time.perf_counter() - started
size = len(value) if isinstance(value, list) else 1
print(json.dumps({"growth_mb": peak_mb() - before, "seconds": seconds, "items": size}))
"""


def measure(function: str, megabytes: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, function, str(megabytes), PHRASE],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2.0, help="text size for score and sentences")
    parser.add_argument("--opinions-mb", type=float, default=0.2, help="text size for opinions")
    parser.add_argument("--rounds", type=int, default=1, help="processes per function (median)")
    args = parser.parse_args()
    cases = [
        ("sentiment_score", args.mb),
        ("sentiment_sentences", args.mb),
        ("sentiment_opinions", args.opinions_mb),
    ]
    print("| function | text | peak memory growth | time | items returned |")
    print("|---|---|---|---|---|")
    for function, megabytes in cases:
        runs = [measure(function, megabytes) for _ in range(args.rounds)]
        growth = statistics.median(r["growth_mb"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        print(
            f"| `{function}` | {megabytes:g} MB | +{growth:.0f} MB | {seconds:.1f} s "
            f"| {runs[0]['items']:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
