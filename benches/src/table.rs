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
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.scenario.clone(),
                r.figure.clone(),
                r.target.to_string(),
                verdict(r.pass).to_string(),
            ]
        })
        .collect();
    print_rows(&["scenario", "result", "target", "verdict"], &cells);
}

/// `PASS`, `FAIL`, or `info` when there is no target.
pub fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "info",
    }
}

/// Prints an aligned table.
pub fn print_rows(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s += c;
            if i + 1 < cells.len() {
                s += &" ".repeat(widths[i] - c.chars().count() + 2);
            }
        }
        println!("{s}");
    };
    line(header.to_vec());
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
