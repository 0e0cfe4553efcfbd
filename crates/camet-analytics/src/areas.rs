//! Which area of a line counts as input and which as output (spec §3).

use serde::Serialize;

use super::error::AnalyticsError;

/// `area_type` of an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaType {
    /// Where units enter the line; counts production.
    Input,
    /// Intermediate area; never chosen by type.
    Process,
    /// Where units leave the line; counts good units and drives downtime.
    Output,
}

impl AreaType {
    /// Parses `input` / `process` / `output` (case-insensitive).
    pub fn parse(s: &str) -> Option<AreaType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "input" => Some(AreaType::Input),
            "process" => Some(AreaType::Process),
            "output" => Some(AreaType::Output),
            _ => None,
        }
    }
}

/// The fields of an area that area selection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaRef {
    /// `area_id`.
    pub area_id: i32,
    /// `area_type`, `None` when unset.
    pub area_type: Option<AreaType>,
    /// `area_order` along the line.
    pub area_order: i32,
}

/// The input and output area of a line (may be the same area on a
/// one-area line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineAreas {
    /// Area whose detections are `total_production`.
    pub input_area_id: i32,
    /// Area whose detections are `good_units` and drive downtime.
    pub output_area_id: i32,
}

impl LineAreas {
    /// The areas whose detections OEE counts, each once (a line with one
    /// area uses it as input and output).
    pub fn counted(&self) -> Vec<i32> {
        if self.input_area_id == self.output_area_id {
            vec![self.input_area_id]
        } else {
            vec![self.input_area_id, self.output_area_id]
        }
    }
}

/// The input area: the `input`-typed area with the lowest `area_order`; if
/// no area is typed `input`, the area with the lowest `area_order`. Ties go
/// to the lowest `area_id` so the choice is stable.
pub fn input_area(areas: &[AreaRef]) -> Option<i32> {
    let typed = areas.iter().filter(|a| a.area_type == Some(AreaType::Input));
    typed
        .min_by_key(|a| (a.area_order, a.area_id))
        .or_else(|| areas.iter().min_by_key(|a| (a.area_order, a.area_id)))
        .map(|a| a.area_id)
}

/// The output area: the `output`-typed area with the highest `area_order`;
/// if no area is typed `output`, the area with the highest `area_order`.
/// Ties go to the lowest `area_id`.
pub fn output_area(areas: &[AreaRef]) -> Option<i32> {
    let key = |a: &&AreaRef| (a.area_order, std::cmp::Reverse(a.area_id));
    let typed = areas.iter().filter(|a| a.area_type == Some(AreaType::Output));
    typed
        .max_by_key(key)
        .or_else(|| areas.iter().max_by_key(key))
        .map(|a| a.area_id)
}

/// Both areas of `line_id` (whose areas are `areas`); a line without areas
/// is an error naming the line (422).
///
/// The fallback to `area_order` applies per role: a line with an `output`
/// area but no `input` one takes its lowest-ordered area as input.
pub fn select_areas(line_id: i32, areas: &[AreaRef]) -> Result<LineAreas, AnalyticsError> {
    match (input_area(areas), output_area(areas)) {
        (Some(input_area_id), Some(output_area_id)) => Ok(LineAreas {
            input_area_id,
            output_area_id,
        }),
        _ => Err(AnalyticsError::NoAreas { line_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(id: i32, t: Option<AreaType>, order: i32) -> AreaRef {
        AreaRef {
            area_id: id,
            area_type: t,
            area_order: order,
        }
    }

    #[test]
    fn typed_input_with_lowest_order_and_typed_output_with_highest_order_are_chosen() {
        let areas = [
            area(1, Some(AreaType::Process), 0),
            area(2, Some(AreaType::Input), 3),
            area(3, Some(AreaType::Input), 2),
            area(4, Some(AreaType::Output), 5),
            area(5, Some(AreaType::Output), 7),
            area(6, Some(AreaType::Process), 9),
        ];
        assert_eq!(
            select_areas(1, &areas),
            Ok(LineAreas {
                input_area_id: 3,
                output_area_id: 5
            })
        );
    }

    #[test]
    fn untyped_areas_fall_back_to_lowest_and_highest_order() {
        let areas = [area(7, None, 2), area(8, None, 1), area(9, None, 3)];
        assert_eq!(
            select_areas(1, &areas),
            Ok(LineAreas {
                input_area_id: 8,
                output_area_id: 9
            })
        );
        // Per role: typed output, no typed input.
        let areas = [area(1, Some(AreaType::Output), 1), area(2, None, 2)];
        assert_eq!(input_area(&areas), Some(1));
        assert_eq!(output_area(&areas), Some(1));
    }

    #[test]
    fn equal_orders_break_ties_by_lowest_area_id() {
        let areas = [area(5, None, 1), area(4, None, 1)];
        assert_eq!(input_area(&areas), Some(4));
        assert_eq!(output_area(&areas), Some(4));
    }

    #[test]
    fn line_without_areas_is_an_error_naming_the_line() {
        let e = select_areas(42, &[]).expect_err("no areas");
        assert_eq!(e.field(), "line_id");
        assert!(e.to_string().contains("line 42"), "{e}");
    }

    #[test]
    fn area_type_parses_case_insensitively() {
        assert_eq!(AreaType::parse(" Output "), Some(AreaType::Output));
        assert_eq!(AreaType::parse("INPUT"), Some(AreaType::Input));
        // A process area is a known type, not an unknown one: it must never be
        // confused with an untyped area (which falls back by order).
        assert_eq!(AreaType::parse("Process"), Some(AreaType::Process));
        assert_eq!(AreaType::parse("other"), None);
    }
}
