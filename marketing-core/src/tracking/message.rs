//! A recipient's finished message: rendered, its links turned into tracked redirects, the
//! unsubscribe link added where the content did not place it, and for e-mail an HTML part with
//! the open pixel. The worker sends exactly this; previews and simulation samples show exactly
//! this (for [`PREVIEW_RECORD`]), so what a marketer checks is what customers get.

use uuid::Uuid;

use super::links::{rewrite_html, rewrite_text};
use super::{PREVIEW_RECORD, Signer};
use crate::render::{CampaignVars, Content, Recipient, RenderError, Rendered};
use crate::vocabulary::Channel;

/// One recipient's message as it is sent, and its unsubscribe link (which e-mail also carries
/// in `List-Unsubscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub message: Rendered,
    pub unsubscribe_url: String,
}

impl Signer {
    /// Renders `content` for `recipient` as the message of record `record` and decorates it (see
    /// [`Signer::decorate`]): the one path from content to what a customer receives, shared by
    /// the worker (real records) and previews ([`PREVIEW_RECORD`]). `{{ unsubscribe_url }}` is
    /// the record's own link, whatever `recipient` carried.
    pub fn finish(
        &self,
        record: Uuid,
        channel: Channel,
        content: &Content,
        mut recipient: Recipient,
        campaign: &CampaignVars,
    ) -> Result<Finished, RenderError> {
        let unsubscribe_url = self.unsubscribe_url(record);
        recipient.unsubscribe_url = Some(unsubscribe_url.clone());
        let rendered = content.render(&recipient, campaign)?;
        let message = self.decorate(
            record,
            channel,
            recipient.locale.as_deref(),
            &unsubscribe_url,
            rendered,
        );
        Ok(Finished {
            message,
            unsubscribe_url,
        })
    }

    /// A preview's message: [`Signer::finish`] for [`PREVIEW_RECORD`], whose links lead where the
    /// real ones do but record nothing.
    pub fn finish_preview(
        &self,
        channel: Channel,
        content: &Content,
        recipient: Recipient,
        campaign: &CampaignVars,
    ) -> Result<Rendered, RenderError> {
        self.finish(PREVIEW_RECORD, channel, content, recipient, campaign)
            .map(|f| f.message)
    }

    /// Finishes a rendered message for record `record`: links become signed click redirects,
    /// the unsubscribe link (`unsubscribe`, the record's [`Signer::unsubscribe_url`], which the
    /// caller already signed for the template) is added where the content did not place
    /// `{{ unsubscribe_url }}` itself (not to WeChat messages), and e-mail gets an HTML part
    /// (generated from the text when the content has none) with the open pixel.
    pub fn decorate(
        &self,
        record: Uuid,
        channel: Channel,
        locale: Option<&str>,
        unsubscribe: &str,
        rendered: Rendered,
    ) -> Rendered {
        let own = format!("{}/", self.base_url);
        // This service's own links (unsubscribe) are left as they are.
        let mut track = |link: u16, url: &str| {
            (!url.starts_with(&own)).then(|| self.click_url(record, link, url))
        };
        let zh = locale.is_none_or(|l| l.to_ascii_lowercase().starts_with("zh"));
        let (label, prefix) = if zh {
            ("退订", "退订：")
        } else {
            ("Unsubscribe", "Unsubscribe: ")
        };
        let (mut body, next) = rewrite_text(&rendered.body, 0, &mut track);
        // A WeChat follower opts out by unfollowing the official account (its `unsubscribe`
        // push opts them out here), and no link in a template message's text can be tapped.
        if channel != Channel::Wechat && !body.contains(unsubscribe) {
            body.push_str(&format!("\n\n{prefix}{unsubscribe}"));
        }
        let html_body = match channel {
            Channel::Email => {
                let (mut html, _) = match &rendered.html_body {
                    Some(html) => rewrite_html(html, next, &mut track),
                    None => (
                        format!(
                            "<html><body><pre style=\"font-family:inherit;white-space:pre-wrap\">{}</pre></body></html>",
                            escape_html(&body)
                        ),
                        next,
                    ),
                };
                let escaped_unsubscribe = unsubscribe.replace('&', "&amp;");
                if !html.contains(&escaped_unsubscribe) {
                    insert_before_body_end(
                        &mut html,
                        &format!(
                            "<p style=\"font-size:12px\"><a href=\"{escaped_unsubscribe}\">{label}</a></p>"
                        ),
                    );
                }
                insert_before_body_end(
                    &mut html,
                    &format!(
                        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">",
                        self.open_url(record)
                    ),
                );
                Some(html)
            }
            _ => None,
        };
        Rendered {
            subject: rendered.subject,
            body,
            html_body,
        }
    }
}

fn insert_before_body_end(html: &mut String, fragment: &str) {
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(at) => html.insert_str(at, fragment),
        None => html.push_str(fragment),
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
