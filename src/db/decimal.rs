//! Exact decimals (weights in kg, rates, target percentages) stored without
//! floating point: DECIMAL on MySQL, TEXT on SQLite (diesel would bind
//! SQLite's `Numeric` as a double and lose exactness).

use std::io::Write;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::mysql::{Mysql, MysqlValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{SqlType, Text};
use diesel::sqlite::Sqlite;
use rust_decimal::Decimal;

/// SQL type of an exact decimal column on both backends.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(sqlite_type(name = "Text"))]
#[diesel(mysql_type(name = "String"))]
pub struct ExactDecimal;

/// A [`Decimal`] as stored in an [`ExactDecimal`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = ExactDecimal)]
pub struct DbDecimal(pub Decimal);

impl ToSql<ExactDecimal, Sqlite> for DbDecimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.normalize().to_string());
        Ok(IsNull::No)
    }
}

impl ToSql<ExactDecimal, Mysql> for DbDecimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Mysql>) -> serialize::Result {
        write!(out, "{}", self.0)?;
        Ok(IsNull::No)
    }
}

impl FromSql<ExactDecimal, Sqlite> for DbDecimal {
    fn from_sql(value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Ok(DbDecimal(Decimal::from_str(text.trim())?))
    }
}

impl FromSql<ExactDecimal, Mysql> for DbDecimal {
    fn from_sql(value: MysqlValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(value.as_bytes())?;
        Ok(DbDecimal(Decimal::from_str(text.trim())?))
    }
}
