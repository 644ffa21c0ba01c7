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

/// The project of `projects` (one account's, in creation order) named
/// `name`: names are unique in an account and compared exactly, after
/// [`ProjectName`] trimmed them.
pub fn named<'a>(projects: &'a [Project], name: &ProjectName) -> Option<&'a Project> {
    projects.iter().find(|p| p.name == name.as_str())
}

/// The project of `projects` that `reference` names: by id, else by
/// `project_key`, since the vendor's client sends the key it read from
/// `GET /project` when a 409 did not give it the id. Only one account's
/// projects are passed, so another account's key is unknown.
pub fn referenced<'a>(projects: &'a [Project], reference: &ProjectId) -> Option<&'a Project> {
    let key = reference.as_str();
    projects
        .iter()
        .find(|p| &p.id == reference)
        .or_else(|| projects.iter().find(|p| p.key == key))
}

/// Adds the project `make` builds (from `name`) to `projects`, unless one
/// already has that name: then that one, and `make` is not called (it
/// takes the next id). Ok: the new project's position.
pub fn add(
    projects: &mut Vec<Project>,
    name: ProjectName,
    make: impl FnOnce(ProjectName) -> Project,
) -> Result<usize, &Project> {
    if let Some(at) = projects.iter().position(|p| p.name == name.as_str()) {
        return Err(&projects[at]);
    }
    projects.push(make(name));
    Ok(projects.len() - 1)
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

    fn project(id: &str, name: &str) -> Project {
        let name = ProjectName::parse(name).expect("a valid name");
        Project::new(ProjectId::from_client(id), name, Instant::from_millis(0))
    }

    #[test]
    fn a_project_is_referenced_by_its_id_else_by_its_key() {
        let a = project("aaaaaaaaaaaaaaaaaaaaaaaa", "A");
        // An id that is another project's key: the id wins.
        let b = project(&a.key, "B");
        let projects = [a.clone(), b];
        let by = |r: &str| referenced(&projects, &ProjectId::from_client(r)).map(|p| p.name.as_str());
        assert_eq!(by("aaaaaaaaaaaaaaaaaaaaaaaa"), Some("A"));
        assert_eq!(by(&a.key), Some("B"));
        assert_eq!(by("prj_bbbbbbbbbbbb"), None);
        assert_eq!(by("unknown"), None);
    }

    #[test]
    fn a_second_project_of_the_same_name_is_refused_without_taking_an_id() {
        let mut projects = vec![project("aaaaaaaaaaaaaaaaaaaaaaaa", "Summer")];
        let name = |n: &str| ProjectName::parse(n).expect("a valid name");
        let existing = add(&mut projects, name(" Summer "), |_| unreachable!("no id taken"));
        assert_eq!(
            existing.map_err(|p| p.id.as_str().to_owned()),
            Err("aaaaaaaaaaaaaaaaaaaaaaaa".into())
        );
        let at = add(&mut projects, name("summer"), |n| {
            Project::new(
                ProjectId::from_client("bbbbbbbbbbbbbbbbbbbbbbbb"),
                n,
                Instant::from_millis(1),
            )
        });
        assert_eq!(at.ok(), Some(1));
        assert_eq!(
            named(&projects, &name("summer")).map(|p| p.key.as_str()),
            Some("prj_bbbbbbbbbbbb")
        );
        assert!(named(&projects, &name("Winter")).is_none());
    }
}
