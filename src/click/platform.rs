//! The ad platforms and their click-id parameters, in one table
//! ([`CLICK_ID_PARAMS`]): the default of `click.platform_click_params`
//! ([`PLATFORM_PARAMS`]), the parameter a tracking template carries
//! ([`Platform::click_param`]), the platform of a parameter
//! ([`Platform::of_param`]) and the SQL that names it in a report
//! ([`platform_sql`]) all derive from it. A new platform or parameter is
//! one row here.

use crate::closed_set::closed_set;

closed_set! {
    /// The ad platforms `clickedge sign --template` writes tracking
    /// templates for, and `clickedge conversions export --platform`
    /// writes import files for.
    #[derive(clap::ValueEnum)]
    pub enum Platform {
        /// Google Ads (`gclid`, `gbraid`, `wbraid`).
        Google,
        /// Microsoft Advertising (`msclkid`).
        Microsoft,
    }
}

/// Every click-id parameter an ad platform fills in, with its platform;
/// the first row of a platform is the one its tracking template carries.
pub(crate) const CLICK_ID_PARAMS: [(&str, Platform); 4] = [
    ("gclid", Platform::Google),
    ("gbraid", Platform::Google),
    ("wbraid", Platform::Google),
    ("msclkid", Platform::Microsoft),
];

/// `click.platform_click_params` by default: every parameter of
/// [`CLICK_ID_PARAMS`], in its order.
pub(crate) const PLATFORM_PARAMS: [&str; CLICK_ID_PARAMS.len()] = {
    let mut out = [""; CLICK_ID_PARAMS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = CLICK_ID_PARAMS[i].0;
        i += 1;
    }
    out
};

impl Platform {
    /// The click-id parameter the template carries, and the platform's
    /// placeholder for its value.
    pub fn click_param(self) -> &'static str {
        CLICK_ID_PARAMS
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("", |(param, _)| param)
    }

    /// The platform a click-id parameter belongs to (for reports).
    pub fn of_param(param: &str) -> Option<Platform> {
        CLICK_ID_PARAMS
            .iter()
            .find(|(name, _)| *name == param)
            .map(|(_, p)| *p)
    }
}

/// A ClickHouse expression naming the platform of the click-id parameter
/// in `column` (`google`, `microsoft`), or the parameter itself when no
/// platform has it: [`Platform::of_param`] in SQL, from the same table.
pub(crate) fn platform_sql(column: &str) -> String {
    let mut sql = String::from("multiIf(");
    for platform in Platform::ALL {
        let params: Vec<String> = CLICK_ID_PARAMS
            .iter()
            .filter(|(_, p)| p == platform)
            .map(|(name, _)| format!("'{name}'"))
            .collect();
        match params.as_slice() {
            [] => continue,
            [one] => sql.push_str(&format!("{column} = {one}")),
            many => sql.push_str(&format!("{column} IN ({})", many.join(", "))),
        }
        sql.push_str(&format!(", '{}', ", platform.as_str()));
    }
    sql.push_str(column);
    sql.push(')');
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_has_a_template_parameter_of_its_own() {
        for &p in Platform::ALL {
            let param = p.click_param();
            assert!(!param.is_empty(), "{p:?} has no row");
            assert_eq!(Platform::of_param(param), Some(p));
        }
        assert_eq!(Platform::Google.click_param(), "gclid");
        assert_eq!(Platform::Microsoft.click_param(), "msclkid");
        assert_eq!(Platform::of_param("wbraid"), Some(Platform::Google));
        assert_eq!(Platform::of_param("fbclid"), None);
    }

    #[test]
    fn the_config_default_is_the_table() {
        assert_eq!(
            crate::config::ClickConfig::default().platform_click_params,
            PLATFORM_PARAMS.map(String::from).to_vec()
        );
        assert_eq!(PLATFORM_PARAMS, ["gclid", "gbraid", "wbraid", "msclkid"]);
    }

    #[test]
    fn the_report_sql_is_generated_from_the_table() {
        assert_eq!(
            platform_sql("platform_click_param"),
            "multiIf(platform_click_param IN ('gclid', 'gbraid', 'wbraid'), 'google', \
             platform_click_param = 'msclkid', 'microsoft', platform_click_param)"
        );
    }
}
