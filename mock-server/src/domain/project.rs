//! A project: a named folder of uploads within one account.

use crate::clock::Instant;
use crate::domain::ids::ProjectId;
use crate::domain::names::ProjectName;

/// A project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// Its name, unique in the account.
    pub name: String,
    /// The vendor's `project_key`.
    pub key: String,
    /// Creation time.
    pub created_at: Instant,
}

impl Project {
    /// A new project named `name`, created at `created_at`. Its
    /// `project_key` is `prj_` and the first 12 characters of its id: the
    /// vendor's keys are that long, and one derived from the id stays
    /// unique and the same in every run of a seed.
    pub fn new(id: ProjectId, name: ProjectName, created_at: Instant) -> Self {
        let key = format!("prj_{}", &id.as_str()[..12]);
        Self {
            id,
            name: name.into_string(),
            key,
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projects_key_is_prj_and_the_first_12_characters_of_its_id() {
        let id = ProjectId::from_client("0123456789abcdef01234567");
        let name = ProjectName::parse(" Summer ").expect("a valid name");
        let p = Project::new(id, name, Instant::from_millis(0));
        assert_eq!(p.key, "prj_0123456789ab");
        assert_eq!(p.name, "Summer");
    }
}
