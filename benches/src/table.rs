//! The results table the suites print.

/// One row: a scenario, its figures, the target and whether it was met.
pub struct Row {
    /// What ran.
    pub scenario: String,
    /// What it measured.
    pub figure: String,
    /// What it should reach.
    pub target: &'static str,
    /// `None`: reported, no target.
    pub pass: Option<bool>,
}

/// Prints the rows as an aligned table with a verdict column.
pub fn print_table(rows: &[Row]) {
    let w0 = rows
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let w1 = rows
        .iter()
        .map(|r| r.figure.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w2 = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<w0$}  {:<w1$}  {:<w2$}  verdict",
        "scenario", "result", "target"
    );
    println!("{}", "-".repeat(w0 + w1 + w2 + 13));
    for r in rows {
        let verdict = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "info",
        };
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {verdict}",
            r.scenario, r.figure, r.target
        );
    }
}
