//! `{{ NAME }}` placeholders in the addon manifests, filled from a fixed list of values.
//!
//! Deliberately tiny: no logic in the templates (what varies by version is decided in code on
//! the typed objects), and every placeholder must have a value, so a typo in a manifest is an
//! error instead of an empty field sent to the cluster.

/// A manifest whose placeholders do not match the values given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("manifests/addons/{file}: placeholder {{{{ {name} }}}} has no value")]
    Unknown { file: &'static str, name: String },
    #[error("manifests/addons/{file}: a \"{{{{\" is not closed by \"}}}}\"")]
    Unclosed { file: &'static str },
}

impl crate::contract::diagnostics::Diagnostic for TemplateError {}

/// Replaces each `{{ NAME }}` in `text` by the value of `NAME` in `vars`.
pub(super) fn render(
    file: &'static str,
    text: &str,
    vars: &[(&str, &str)],
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed { file })?;
        let name = after[..end].trim();
        let value = vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| TemplateError::Unknown {
                file,
                name: name.to_string(),
            })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_placeholder_and_refuses_unknown_or_unclosed_ones() {
        assert_eq!(
            render(
                "x.yaml",
                "a: {{ A }}\nb: {{B}}-{{ A }}\n",
                &[("A", "1"), ("B", "2")]
            )
            .unwrap(),
            "a: 1\nb: 2-1\n"
        );
        let e = render("x.yaml", "a: {{ C }}", &[("A", "1")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "manifests/addons/x.yaml: placeholder {{ C }} has no value"
        );
        assert!(matches!(
            render("x.yaml", "a: {{ A", &[("A", "1")]),
            Err(TemplateError::Unclosed { .. })
        ));
    }
}
