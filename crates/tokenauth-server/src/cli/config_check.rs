//! `tokenauth config check`: the effective configuration and its warnings.

use crate::config::Config;

/// `tokenauth config check`: reaching here means the configuration is valid (an invalid one
/// stopped with exit 2 before the command ran); prints it, then the warnings.
pub fn config_check(config: &Config, json: bool) {
    let settings = config.effective();
    let warnings = config.warnings();
    if json {
        let settings: serde_json::Map<String, serde_json::Value> = settings
            .into_iter()
            .map(|(name, value)| (name.to_owned(), serde_json::Value::String(value)))
            .collect();
        println!(
            "{}",
            serde_json::json!({"valid": true, "settings": settings, "warnings": warnings})
        );
        return;
    }
    let width = settings
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    println!("configuration is valid");
    for (name, value) in &settings {
        println!("  {name:<width$}  {value}");
    }
    if warnings.is_empty() {
        println!("no warnings");
    }
    for warning in &warnings {
        println!("warning: {warning}");
    }
}
