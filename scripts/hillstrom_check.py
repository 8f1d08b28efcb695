#!/usr/bin/env python3
"""The Hillstrom test end to end: imported as profiles, sends and outcomes,
reported by `tidings experiments report`, checked against the independent
scipy computation in crates/insights/tests/fixtures/hillstrom_scipy.json.

usage: hillstrom_check.py TIDINGS_BINARY

Converts the CSV with hillstrom_to_ndjson.py, imports it into a new data
folder, asks for the report (visits, and orders with revenue) overall and by
history_segment, zip_code and channel, and compares every number the two
have in common. Exits 1 on any difference beyond 1e-8 relative.
"""
import json, math, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = sys.argv[1]
FIXTURE = os.path.join(HERE, "..", "crates", "insights", "tests", "fixtures", "hillstrom_scipy.json")
sys.path.insert(0, HERE)
from shared_data import shared  # noqa: E402

checked, failures = 0, []


def close(a, b, what):
    global checked
    checked += 1
    if a is None or b is None:
        if a != b:
            failures.append(f"{what}: tidings {a}, scipy {b}")
        return
    if not math.isclose(a, b, rel_tol=1e-8, abs_tol=1e-300):
        failures.append(f"{what}: tidings {a!r}, scipy {b!r}")


def compare(ours, pop, metric, with_value, where):
    arms = {a["arm"]: a for a in pop["arms"]}
    comps = {c["arm"]: c for c in pop["comparisons"]}
    close(ours["srm"]["chi2"], pop["srm"]["chi2"], f"{where} srm chi2")
    close(ours["srm"]["p"], pop["srm"]["p"], f"{where} srm p")
    for v in ours["variations"]:
        a, w = arms[v["name"]], f"{where} {v['name']} {metric}"
        close(v["exposed"], a["n"], f"{w} exposed")
        close(v["conversions"], a[metric]["count"], f"{w} conversions")
        for k in ["rate", "ci_low", "ci_high"]:
            close(v[k], a[metric][k], f"{w} {k}")
        if v["name"] in comps:
            c = comps[v["name"]][metric]
            close(v["lift_abs"], c["diff"], f"{w} lift_abs")
            close(v["lift_rel"], c["ratio"] - 1, f"{w} lift_rel")
            close(abs(v["z"]), abs(c["z"]), f"{w} |z|")
            close(v["p"], c["p"], f"{w} p")
            close(v["p_holm"], c["p_holm"], f"{w} p_holm")
        if with_value:
            close(v["value_mean"], a["revenue"]["mean"], f"{w} value_mean")
            if v["name"] in comps:
                r = comps[v["name"]]["revenue"]
                close(v["welch_t"], r["t"], f"{w} welch_t")
                close(v["welch_df"], r["df"], f"{w} welch_df")
                close(v["welch_p"], r["p"], f"{w} welch_p")


def main():
    fixture = json.load(open(FIXTURE))
    with tempfile.TemporaryDirectory() as tmp:
        nd = os.path.join(tmp, "hillstrom.ndjson.gz")
        subprocess.run(
            [sys.executable, os.path.join(HERE, "hillstrom_to_ndjson.py"),
             shared("data", "hillstrom", "hillstrom.csv"), nd],
            check=True, stdout=subprocess.DEVNULL)
        data = os.path.join(tmp, "data")
        subprocess.run([BIN, "import", "--quiet", "--data", data, nd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for metric, event, value in [("visit", "Site Visited", None), ("conversion", "Order Completed", "revenue")]:
            for by in [None, "history_segment", "zip_code", "channel"]:
                args = [BIN, "experiments", "report", "hillstrom", "--data", data, "--control", "No E-Mail",
                        "--metric", event, "--format", "json", "--quiet"]
                if value:
                    args += ["--value", value]
                if by:
                    args += ["--by", by]
                ours = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
                if by is None:
                    compare(ours, fixture["overall"], metric, value is not None, "overall")
                else:
                    groups = next(b for b in fixture["breakdowns"] if b["attribute"] == by)["groups"]
                    for g in groups:
                        compare(ours["breakdown"][g["value"]], g, metric, value is not None, f"{by}={g['value']}")
    for f in failures[:30]:
        print("MISMATCH", f)
    print(f"hillstrom: {checked} numbers compared with scipy, {len(failures)} differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
