//! Alerts as people see them. Need-to-know applies: an alert that leads to a security incident
//! says what the attack looks like, so only that incident's members see it, and to everyone
//! else it does not exist (the same "not found" as a missing alert).

use std::collections::BTreeSet;

use cordon_domain::{Person, Timestamp};
use cordon_store::{AlertRow, NotificationRow, Store};

use super::{Paging, PagingError};
use crate::AppError;

/// An alert with the pages it caused, oldest first.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: AlertRow,
    pub pages: Vec<NotificationRow>,
}

impl<S: Store> Paging<S> {
    async fn may_see(
        &self,
        actor: &Person,
        alert: &AlertRow,
        memberships: Option<&BTreeSet<String>>,
    ) -> Result<bool, PagingError> {
        if alert.outcome != "security" {
            return Ok(true);
        }
        let Some(incident) = &alert.incident_id else {
            return Ok(false);
        };
        if alert.incident_pending {
            return Ok(false);
        }
        match memberships {
            Some(set) => Ok(set.contains(incident)),
            None => Ok(self
                .store()
                .memberships(actor.as_str())
                .await?
                .iter()
                .any(|id| id.as_str() == incident)),
        }
    }

    /// The alerts `actor` may see, most recent first.
    pub async fn visible_alerts(
        &self,
        actor: &Person,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertRow>, PagingError> {
        let memberships: BTreeSet<String> = self
            .store()
            .memberships(actor.as_str())
            .await?
            .into_iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        let mut visible = Vec::new();
        for alert in self.store().alerts(open_only, limit).await? {
            if self.may_see(actor, &alert, Some(&memberships)).await? {
                visible.push(alert);
            }
        }
        Ok(visible)
    }

    /// One alert, if `actor` may see it; to anyone else it does not exist.
    pub async fn visible_alert(&self, actor: &Person, id: &str) -> Result<AlertRow, PagingError> {
        let not_found = || PagingError::Unknown {
            what: "alert",
            name: id.to_owned(),
        };
        let alert = self.store().alert(id).await?.ok_or_else(not_found)?;
        if !self.may_see(actor, &alert, None).await? {
            return Err(not_found());
        }
        Ok(alert)
    }

    /// One alert with its pages, if `actor` may see it.
    pub async fn alert_view(&self, actor: &Person, id: &str) -> Result<AlertView, PagingError> {
        let alert = self.visible_alert(actor, id).await?;
        let pages = self.store().notifications_of_alert(&alert.id).await?;
        Ok(AlertView { alert, pages })
    }

    /// Acknowledges (`acknowledged`) or resolves (`resolved`) an alert `actor` may see.
    /// Acknowledging stops its escalation; neither closes an incident, which people resolve
    /// through its steps.
    pub async fn set_alert_status(
        &self,
        actor: &Person,
        id: &str,
        status: &str,
        now: Timestamp,
    ) -> Result<AlertRow, PagingError> {
        let alert = self.visible_alert(actor, id).await?;
        match self.store().set_alert_status(id, status, actor.as_str(), now).await? {
            Some(changed) => Ok(changed),
            None => Err(PagingError::Invalid(format!("alert {id} is already {}", alert.status))),
        }
    }

    /// The alerts that opened or joined an incident, and who was paged when, for its room.
    /// Need-to-know is the incident's: `actor` must be able to see it.
    pub async fn incident_paging(&self, actor: &Person, reference: &str) -> Result<Vec<AlertView>, AppError> {
        let row = self.incidents().resolve(actor, reference).await?;
        let mut views = Vec::new();
        for alert in self.store().alerts_of_incident(row.id.as_str()).await? {
            let pages = self.store().notifications_of_alert(&alert.id).await?;
            views.push(AlertView { alert, pages });
        }
        Ok(views)
    }
}
