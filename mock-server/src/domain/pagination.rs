//! `page` / `per_page` query parameters and the `pagination` object.

use serde::{Deserialize, Serialize};

use crate::domain::rule::Violation;

/// The largest `per_page` accepted.
pub const MAX_PER_PAGE: u32 = 100;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
}

impl PageRequest {
    /// Checks `page >= 1` and `1 <= per_page <= 100`; defaults 1 and 20.
    /// A refusal names the query parameter.
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, Violation> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(20);
        if page == 0 {
            return Err(Violation::new("page", "must be at least 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Violation::new("per_page", "must be between 1 and 100"));
        }
        Ok(Self { page, per_page })
    }

    /// The items of this page out of `all`, and the `pagination` object.
    pub fn slice<T>(self, all: Vec<T>) -> (Vec<T>, Pagination) {
        let total = all.len() as u64;
        let per = u64::from(self.per_page);
        let pages = total.div_ceil(per);
        let skip = (u64::from(self.page) - 1).saturating_mul(per);
        let items: Vec<T> = all
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(self.per_page as usize)
            .collect();
        let p = Pagination {
            page: self.page,
            per_page: self.per_page,
            total,
            pages,
            has_next: u64::from(self.page) < pages,
            has_prev: self.page > 1,
        };
        (items, p)
    }
}

/// The vendor's `pagination` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// This page (from 1).
    pub page: u32,
    /// Items a page.
    pub per_page: u32,
    /// Items in all.
    pub total: u64,
    /// Pages in all.
    pub pages: u64,
    /// Whether a later page exists.
    pub has_next: bool,
    /// Whether an earlier page exists.
    pub has_prev: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_slice_and_report() {
        let req = PageRequest::parse(Some(2), Some(2)).expect("valid");
        let (items, p) = req.slice(vec![1, 2, 3, 4, 5]);
        assert_eq!(items, vec![3, 4]);
        assert_eq!((p.total, p.pages, p.has_next, p.has_prev), (5, 3, true, true));
        let (items, p) = PageRequest::parse(Some(9), None).expect("valid").slice(vec![1]);
        assert!(items.is_empty());
        assert!(!p.has_next);
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(None, Some(101)).is_err());
        assert!(PageRequest::parse(None, Some(0)).is_err());
    }
}
