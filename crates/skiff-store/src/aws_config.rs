//! The S3 endpoint the way the AWS CLI and SDKs find it when nothing more specific is given:
//! `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then the profile's `services` section
//! (`s3 = … endpoint_url = …`), then the profile's own `endpoint_url`, all switched off by
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`. skiff's own settings (`--s3-endpoint`,
//! `SKIFF_S3_ENDPOINT`, a BSL's `s3Url`) win over all of these; the caller applies that order.
//!
//! Pure: the caller passes the environment lookup and the config file's text.

/// Environment variable: endpoint for S3 only.
pub const ENV_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// Environment variable: endpoint for every AWS service.
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// Environment variable: ignore every configured endpoint.
pub const ENV_IGNORE_ENDPOINTS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
/// Environment variable: the AWS config file (default `~/.aws/config`).
pub const ENV_CONFIG_FILE: &str = "AWS_CONFIG_FILE";

/// The configured S3 endpoint, if any. `config_text` is the AWS config file's content (if it
/// exists), `profile` the profile in use (`default` when `None`).
pub fn configured_s3_endpoint(
    lookup: &dyn Fn(&str) -> Option<String>,
    config_text: Option<&str>,
    profile: Option<&str>,
) -> Option<String> {
    let set = |k: &str| lookup(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if set(ENV_IGNORE_ENDPOINTS).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    set(ENV_ENDPOINT_URL_S3)
        .or_else(|| set(ENV_ENDPOINT_URL))
        .or_else(|| config_text.and_then(|t| from_config(t, profile.unwrap_or("default"))))
}

/// One `[section]` of an AWS config file: `key = value` lines, where a key with an empty value
/// opens a nested block of indented `key = value` lines (`s3 =\n  endpoint_url = …`).
#[derive(Debug, Default)]
struct Section {
    values: Vec<(String, String)>,
    nested: Vec<(String, Vec<(String, String)>)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn nested_get(&self, block: &str, key: &str) -> Option<&str> {
        self.nested
            .iter()
            .find(|(b, _)| b.eq_ignore_ascii_case(block))
            .and_then(|(_, kv)| kv.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v.as_str())
    }
}

fn parse(text: &str) -> Vec<(String, Section)> {
    let mut sections: Vec<(String, Section)> = Vec::new();
    let mut block: Option<String> = None;
    for raw in text.lines() {
        let indented = raw.starts_with([' ', '\t']);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((
                name.split_whitespace().collect::<Vec<_>>().join(" "),
                Section::default(),
            ));
            block = None;
            continue;
        }
        let Some((_, section)) = sections.last_mut() else {
            continue;
        };
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
        match (&block, indented) {
            (Some(b), true) => {
                if let Some((_, kv)) = section.nested.iter_mut().find(|(n, _)| n == b) {
                    kv.push((k, v));
                }
            }
            _ if v.is_empty() => {
                section.nested.push((k.clone(), Vec::new()));
                block = Some(k);
            }
            _ => {
                block = None;
                section.values.push((k, v));
            }
        }
    }
    sections
}

fn from_config(text: &str, profile: &str) -> Option<String> {
    let sections = parse(text);
    let find = |name: &str| sections.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    let section = if profile == "default" {
        find("default").or_else(|| find("profile default"))
    } else {
        find(&format!("profile {profile}"))
    }?;
    if let Some(services) = section.get("services")
        && let Some(ep) =
            find(&format!("services {services}")).and_then(|s| s.nested_get("s3", "endpoint_url"))
    {
        return Some(ep.to_owned());
    }
    section.get("endpoint_url").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    const CONFIG: &str = "\
[default]
region = eu-west-1
endpoint_url = http://default.example:9000

[profile minio]
services = local
endpoint_url = http://global.example

[services local]
s3 =
  endpoint_url = http://127.0.0.1:9000
  addressing_style = path
dynamodb =
  endpoint_url = http://127.0.0.1:8000
";

    #[test]
    fn precedence_follows_the_aws_tools() {
        let both = env(&[
            (ENV_ENDPOINT_URL, "http://all.example"),
            (ENV_ENDPOINT_URL_S3, "http://s3.example"),
        ]);
        assert_eq!(
            configured_s3_endpoint(&both, Some(CONFIG), None).as_deref(),
            Some("http://s3.example")
        );
        let global = env(&[(ENV_ENDPOINT_URL, "http://all.example")]);
        assert_eq!(
            configured_s3_endpoint(&global, Some(CONFIG), None).as_deref(),
            Some("http://all.example")
        );
        let none = env(&[]);
        assert_eq!(
            configured_s3_endpoint(&none, Some(CONFIG), None).as_deref(),
            Some("http://default.example:9000")
        );
        assert_eq!(
            configured_s3_endpoint(&none, Some(CONFIG), Some("minio")).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(configured_s3_endpoint(&none, Some(CONFIG), Some("absent")), None);
        assert_eq!(configured_s3_endpoint(&none, None, None), None);
        let ignored = env(&[
            (ENV_IGNORE_ENDPOINTS, "true"),
            (ENV_ENDPOINT_URL_S3, "http://s3.example"),
        ]);
        assert_eq!(configured_s3_endpoint(&ignored, Some(CONFIG), None), None);
    }
}
