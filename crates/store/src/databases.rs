//! Creating and dropping whole databases: for the whole-system tests and the benchmark, which
//! each want a fresh, migrated database. DDL cannot take bound parameters, so names are checked
//! against a strict alphabet before they are quoted into the statement.

use sqlx::{AssertSqlSafe, PgPool};

use crate::StoreError;

fn checked(name: &str) -> Result<&str, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(StoreError::Invalid {
            field: "database name",
            message: "use 1-63 lower-case letters, digits or underscores",
        })
    }
}

/// `CREATE DATABASE name` through a connection to another database of the same server.
pub async fn create(admin: &PgPool, name: &str) -> Result<(), StoreError> {
    let name = checked(name)?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(admin)
        .await?;
    Ok(())
}

/// Drop the database, disconnecting whoever is still in it.
pub async fn drop(admin: &PgPool, name: &str) -> Result<(), StoreError> {
    let name = checked(name)?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_break_out_of_the_quotes_are_refused() {
        assert!(checked("tg_it_0193abc").is_ok());
        for bad in [
            "",
            "a\"; DROP TABLE x; --",
            "Upper",
            "has space",
            &"x".repeat(64),
        ] {
            assert!(checked(bad).is_err(), "{bad}");
        }
    }
}
