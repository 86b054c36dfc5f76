//! The demo users of development mode: one per policy role, each in a team, so the sign-in page
//! shows what every role may do and whose objects it may touch. Never offered once a real token
//! key is configured (see `ui::development_mode`).

/// One demo user per policy role, offered on the sign-in page in development mode:
/// (role, user, team, what they do). Their tokens carry the team, so ownership scopes show.
pub const DEMO_USERS: &[(&str, &str, &str, &str)] = &[
    (
        "marketer",
        "alice",
        "marketing",
        "instantiates the marketing templates",
    ),
    (
        "sales_ops",
        "sam",
        "sales",
        "instantiates the sales templates",
    ),
    ("data_engineer", "dana", "data", "owns the data contracts"),
    (
        "platform_engineer",
        "pat",
        "platform",
        "publishes and retires catalog items",
    ),
    (
        "platform_admin",
        "ada",
        "platform",
        "platform engineer who also manages anyone's connections and reads the audit log",
    ),
    (
        "compliance",
        "carol",
        "compliance",
        "reads the audit log, the policy and personal data",
    ),
    (
        "approver",
        "avery",
        "governance",
        "approves instances of sensitive templates and runs waiting for approval",
    ),
    (
        "operator",
        "otto",
        "operations",
        "pauses, resumes, replays and runs anyone's workflows",
    ),
    (
        "viewer",
        "vic",
        "marketing",
        "reads the catalog and workflows",
    ),
];
