//! Display names in both languages of the API (semantics §7: Spanish by
//! default, English with `lang=en` or `Accept-Language: en`).
//!
//! Widget and filter names are stored as text (the widget catalog, a
//! tenant's filter rows), in Spanish as the original design seeded them.
//! A stored name that is one of the built-in names is shown in the
//! requested language; any other name is the operator's own words and is
//! shown as written, since free text cannot be translated.

use crate::dashboard::widgets::Lang;

/// One built-in text in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Localized {
    /// Spanish (the stored form).
    pub es: &'static str,
    /// English.
    pub en: &'static str,
}

impl Localized {
    /// The text in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        lang.text(self.es, self.en)
    }

    /// Whether `stored` is this text in either language (trimmed, case and
    /// accents as written: "Línea" and "Linea" are different names).
    pub fn names(self, stored: &str) -> bool {
        let stored = stored.trim();
        stored.eq_ignore_ascii_case(self.es) || stored.eq_ignore_ascii_case(self.en)
    }
}

/// `stored` in `lang` when it is one of `known`, else `stored` unchanged.
pub fn localize<'a>(stored: &str, known: impl IntoIterator<Item = &'a Localized>, lang: Lang) -> String {
    known
        .into_iter()
        .find(|text| text.names(stored))
        .map_or_else(|| stored.to_owned(), |text| text.get(lang).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: Localized = Localized {
        es: "Línea",
        en: "Line",
    };

    #[test]
    fn known_names_follow_the_language_and_others_stay_as_written() {
        assert_eq!(localize("Línea", [&LINE], Lang::En), "Line");
        assert_eq!(localize("line", [&LINE], Lang::Es), "Línea");
        assert_eq!(localize("  Línea ", [&LINE], Lang::Es), "Línea");
        assert_eq!(localize("Línea 3 (empaque)", [&LINE], Lang::En), "Línea 3 (empaque)");
    }
}
