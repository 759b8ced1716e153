//! Rosters as the admin moves them by hand: the local store's people gathered into a roster
//! (for `roster export`, sealed like the backend's), and a roster's people merged into the store
//! (for `roster import`). The daemon's sync replaces the whole roster instead
//! ([`super::RosterSync`]); an import adds to what is there.

use std::sync::Arc;

use super::{Roster, RosterPerson};
use crate::store::{Store, StoreError};

/// Everyone enrolled for `recognizer`, with their names, groups and templates.
pub fn from_store(store: &Store, recognizer: &Arc<str>) -> Result<Roster, StoreError> {
    let listed = store.people()?;
    let mut people: Vec<RosterPerson> = Vec::new();
    for (person, groups, e) in store.templates(recognizer)? {
        match people.iter_mut().find(|p| p.person_id == person) {
            Some(p) => p.templates.push(e.vector),
            None => people.push(RosterPerson {
                name: listed
                    .iter()
                    .find(|l| l.person_id == person)
                    .and_then(|l| l.name.clone()),
                person_id: person,
                groups,
                templates: vec![e.vector],
            }),
        }
    }
    Ok(Roster {
        people,
        removed: Vec::new(),
    })
}

/// Adds or updates each person of `roster` (templates of `recognizer`), deletes those its
/// tombstones name, and leaves everyone else as they are. Returns who was deleted.
pub fn merge_into(store: &mut Store, roster: &Roster, recognizer: &Arc<str>) -> Result<Vec<String>, StoreError> {
    let templates = roster.embeddings(recognizer);
    for person in roster.enrollments(&templates) {
        store.enroll(&person)?;
    }
    let mut deleted = Vec::new();
    for person in &roster.removed {
        if store.remove_person(person)? {
            deleted.push(person.clone());
        }
    }
    Ok(deleted)
}
