use crate::tidings;

#[test]
fn the_demo_is_deterministic_exports_and_guards_foreign_folders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let export = dir.path().join("events.ndjson");
    let args = |with_export: bool| {
        let mut v = vec![
            "demo",
            "--quiet",
            "--profiles",
            "300",
            "--days",
            "3",
            "--seed",
            "11",
            "--data",
            data.to_str().unwrap(),
        ];
        if with_export {
            v.extend(["--export", export.to_str().unwrap()]);
        }
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| tidings(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run(args(true));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let report = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(report.contains("SIMULATED"), "{report}");
    let number_after = |word: &str| -> u64 {
        let line = report.lines().find(|l| l.contains("messages stored")).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words.iter().position(|w| *w == word).unwrap();
        words[i + 1].trim_start_matches('(').parse().unwrap()
    };
    let stored = number_after("Ingest:");
    let exposures = number_after("stored");
    let lines = std::fs::read_to_string(&export).unwrap().lines().count() as u64;
    assert_eq!(stored, lines + exposures, "every exported message is stored once, beside the experiment's exposures");
    // The whole product ran: journeys sent mail, as .eml files with signed links.
    assert!(report.contains("journey:cart_abandonment"), "{report}");
    assert!(report.contains("broadcast:newsletter"), "{report}");
    assert!(report.contains("Experiment \"behavioural_vs_newsletter\""), "{report}");
    let emls: Vec<_> = std::fs::read_dir(data.join("mail")).unwrap().filter_map(|e| e.ok()).collect();
    assert!(!emls.is_empty());
    let eml = std::fs::read_to_string(emls[0].path()).unwrap();
    for header in ["From:", "To:", "Subject:", "Message-ID:", "List-Unsubscribe:", "List-Unsubscribe-Post:"] {
        assert!(eml.contains(header), "{header} missing in {eml}");
    }
    // The live segment sizes in the report equal the reference evaluator's
    // answer from the stored events as of the end of the simulation.
    let members: std::collections::BTreeMap<String, u64> = report
        .lines()
        .skip_while(|l| !l.contains("members   entered"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[1].parse().unwrap())
        })
        .collect();
    assert_eq!(members.len(), 10, "{report}");
    let end = report.lines().nth(1).unwrap().split_whitespace().last().unwrap().to_string();
    let eval = tidings(&["segments", "eval", "--data", data.to_str().unwrap(), "--as-of", &end, "-q"]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let mut counted: std::collections::BTreeMap<String, u64> = members.keys().map(|k| (k.clone(), 0)).collect();
    for line in String::from_utf8_lossy(&eval.stdout).lines() {
        *counted.get_mut(line.split(',').next().unwrap()).unwrap() += 1;
    }
    assert_eq!(members, counted, "live engine vs reference evaluator");
    // `tidings report` on the data folder gives the same per-journey numbers.
    // The rows of the first table after the "Email by journey" heading.
    let rows = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("Email by journey"))
            .take_while(|l| !l.is_empty())
            .filter(|l| l.starts_with("  journey:") || l.starts_with("  broadcast:"))
            .map(String::from)
            .collect()
    };
    let again = tidings(&["report", "--data", data.to_str().unwrap()]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(!rows(&report).is_empty());
    assert_eq!(rows(&report), rows(&String::from_utf8_lossy(&again.stdout)));
    // The same seed gives the same report; the folder is replaced, not added to.
    let second = run(args(false));
    assert_eq!(String::from_utf8_lossy(&second.stdout), report);
    // The profile commands read the demo's folder.
    let show = tidings(&["profile", "show", "u000001", "--data", data.to_str().unwrap()]);
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    assert!(String::from_utf8_lossy(&show.stdout).contains("email = \""), "{}", String::from_utf8_lossy(&show.stdout));
    let explain = tidings(&["profile", "explain", "u000001", "--data", data.to_str().unwrap()]);
    assert!(explain.status.success(), "{}", String::from_utf8_lossy(&explain.stderr));
    assert!(String::from_utf8_lossy(&explain.stdout).contains("policy decisions"));
    let missing = tidings(&["profile", "show", "nobody", "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no profile"));
    // A folder the demo did not make is left alone.
    let foreign = dir.path().join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep").unwrap();
    let out = tidings(&["demo", "--quiet", "--profiles", "10", "--days", "1", "--data", foreign.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(foreign.join("precious.txt").exists());
}
