//! The query language, in the style of OpenSearch Dashboards (DQL):
//!
//! ```text
//! user.username:"alice@example.com" and verb:(create or delete)
//! responseStatus.code >= 400 and not objectRef.namespace:kube-*
//! objectRef.resource:secrets and (verb:get or verb:list)
//! impersonatedUser.username:*          # exists
//! alice@example.com                    # a bare term: any keyword field
//! ```
//!
//! `and` binds tighter than `or`; two terms side by side mean `and`;
//! operators are case-insensitive. Keyword values match the whole value,
//! `*` is a wildcard (not inside quotes); ranges apply to numbers and
//! `time` (RFC 3339). Every error names its column.

use jiff::Timestamp;
use whodid_index::catalogue::{closest, lookup, FieldKind, FieldRef, Source};

use crate::ast::{Cmp, Expr, Pattern};
use crate::error::QueryError;
use crate::lexer::{lex, Tok, Token};

/// Nesting deeper than this is refused (a stack-safe parser).
const MAX_DEPTH: usize = 64;

/// Parses a query; the empty query and `*` match everything.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    let tokens = lex(query)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    if parser.peek().tok == Tok::End {
        return Ok(Expr::All);
    }
    let expr = parser.or_expr(None)?;
    let token = parser.peek();
    match token.tok {
        Tok::End => Ok(expr),
        Tok::RParen => Err(QueryError::at(token.column, "')' has no matching '('")),
        _ => Err(QueryError::at(
            token.column,
            "expected 'and', 'or' or the end of the query",
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// The field of a value group `field:(…)` and its column.
type Ctx = (FieldRef, usize);

/// A value as written after `field:`.
enum Value {
    Word { text: String, stars: Vec<bool> },
    Quoted(String),
}

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends with `End`.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn enter(&mut self, column: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(
                column,
                format!("the query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self, ctx: Option<&Ctx>) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr(ctx)?];
        while self.peek().tok == Tok::Or {
            let or = self.bump();
            self.expect_operand(&or, "or")?;
            items.push(self.and_expr(ctx)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn expect_operand(&self, op: &Token, name: &str) -> Result<(), QueryError> {
        match self.peek().tok {
            Tok::End | Tok::RParen | Tok::And | Tok::Or => Err(QueryError::at(
                op.column,
                format!("'{name}' needs a term after it"),
            )),
            _ => Ok(()),
        }
    }

    fn starts_operand(tok: &Tok) -> bool {
        matches!(
            tok,
            Tok::Not | Tok::LParen | Tok::Word { .. } | Tok::Quoted(_)
        )
    }

    fn and_expr(&mut self, ctx: Option<&Ctx>) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_expr(ctx)?];
        loop {
            if self.peek().tok == Tok::And {
                let and = self.bump();
                self.expect_operand(&and, "and")?;
            } else if !Self::starts_operand(&self.peek().tok) {
                break;
            }
            items.push(self.not_expr(ctx)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self, ctx: Option<&Ctx>) -> Result<Expr, QueryError> {
        if self.peek().tok == Tok::Not {
            let not = self.bump();
            self.expect_operand(&not, "not")?;
            self.enter(not.column)?;
            let inner = self.not_expr(ctx)?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        match ctx {
            Some(ctx) => self.value_primary(ctx),
            None => self.primary(),
        }
    }

    /// Inside `field:(…)`: a value or a parenthesised group of values.
    fn value_primary(&mut self, ctx: &Ctx) -> Result<Expr, QueryError> {
        let (field, field_column) = (&ctx.0, ctx.1);
        if self.peek().tok == Tok::LParen {
            return self.group(Some(ctx));
        }
        let token = self.bump();
        match token.tok {
            Tok::Word { text, stars } => field_value(
                field,
                field_column,
                Value::Word { text, stars },
                token.column,
            ),
            Tok::Quoted(text) => {
                field_value(field, field_column, Value::Quoted(text), token.column)
            }
            _ => Err(QueryError::at(
                token.column,
                format!(
                    "'{}:' needs a value here (use {}:* for \"has a value\")",
                    field.name(),
                    field.name()
                ),
            )),
        }
    }

    /// `( … )`, at the opening parenthesis.
    fn group(&mut self, ctx: Option<&Ctx>) -> Result<Expr, QueryError> {
        let open = self.bump();
        self.enter(open.column)?;
        if self.peek().tok == Tok::RParen {
            return Err(QueryError::at(open.column, "empty parentheses"));
        }
        let inner = self.or_expr(ctx)?;
        self.close(&open)?;
        self.depth -= 1;
        Ok(inner)
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if self.peek().tok == Tok::LParen {
            return self.group(None);
        }
        let token = self.bump();
        match token.tok {
            Tok::LParen => Err(QueryError::at(token.column, "unexpected '('")),
            Tok::Word { text, stars } => match self.peek().tok {
                Tok::Colon => {
                    self.bump();
                    let field = resolve(&text, token.column)?;
                    self.field_values(&field, token.column)
                }
                Tok::Cmp(cmp) => {
                    let op = self.bump();
                    let field = resolve(&text, token.column)?;
                    let value = self.bump();
                    let text = match value.tok {
                        Tok::Word { text, .. } | Tok::Quoted(text) => text,
                        _ => {
                            return Err(QueryError::at(
                                op.column,
                                "a comparison needs a value after it",
                            ))
                        }
                    };
                    compare(&field, token.column, cmp, &text, value.column)
                }
                _ => Ok(bare(Value::Word { text, stars })),
            },
            Tok::Quoted(text) => Ok(bare(Value::Quoted(text))),
            Tok::RParen => Err(QueryError::at(token.column, "')' has no matching '('")),
            Tok::End => Err(QueryError::at(
                token.column,
                "the query ends where a term was expected",
            )),
            Tok::Colon => Err(QueryError::at(
                token.column,
                "':' needs a field name before it",
            )),
            Tok::Cmp(_) => Err(QueryError::at(
                token.column,
                "a comparison needs a field name before it",
            )),
            Tok::And | Tok::Or | Tok::Not => Err(QueryError::at(
                token.column,
                "an operator where a term was expected",
            )),
        }
    }

    fn close(&mut self, open: &Token) -> Result<(), QueryError> {
        match self.peek().tok {
            Tok::RParen => {
                self.bump();
                Ok(())
            }
            Tok::End => Err(QueryError::at(open.column, "'(' is never closed")),
            _ => Err(QueryError::at(
                self.peek().column,
                "expected 'and', 'or' or ')'",
            )),
        }
    }

    /// After `field:`: one value, or a group `(a or b and not c)`.
    fn field_values(&mut self, field: &FieldRef, field_column: usize) -> Result<Expr, QueryError> {
        let ctx: Ctx = (field.clone(), field_column);
        self.value_primary(&ctx)
    }
}

fn resolve(name: &str, column: usize) -> Result<FieldRef, QueryError> {
    lookup(name).ok_or_else(|| {
        let hint = match closest(name) {
            Some(near) => format!(" — did you mean {near}?"),
            None => " (the list: `whodid search --fields` or GET /fields)".to_owned(),
        };
        QueryError::at(column, format!("unknown field {name:?}{hint}"))
    })
}

fn pattern_of(value: Value) -> Pattern {
    match value {
        Value::Quoted(text) => Pattern::Exact(text),
        Value::Word { text, stars } => {
            if !stars.contains(&true) {
                return Pattern::Exact(text);
            }
            let mut parts = vec![String::new()];
            for (c, star) in text.chars().zip(stars) {
                if star {
                    parts.push(String::new());
                } else if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
            Pattern::Wildcard { parts }
        }
    }
}

fn bare(value: Value) -> Expr {
    match pattern_of(value) {
        Pattern::Wildcard { parts } if parts.iter().all(String::is_empty) => Expr::All,
        pattern => Expr::Keyword {
            field: None,
            pattern,
        },
    }
}

fn is_lone_star(value: &Value) -> bool {
    matches!(value, Value::Word { stars, .. } if !stars.is_empty() && stars.iter().all(|s| *s))
}

fn field_value(
    field: &FieldRef,
    field_column: usize,
    value: Value,
    column: usize,
) -> Result<Expr, QueryError> {
    if is_lone_star(&value) {
        return Ok(Expr::Exists(field.clone()));
    }
    match field.kind() {
        FieldKind::Keyword => Ok(Expr::Keyword {
            field: Some(field.clone()),
            pattern: pattern_of(value),
        }),
        FieldKind::Number => {
            let text = match value {
                Value::Word { text, stars } if stars.contains(&true) => {
                    return Err(QueryError::at(
                        column,
                        format!(
                            "{} is a number: wildcards do not apply ({text:?}); use a range such as {} >= 400",
                            field.name(),
                            field.name()
                        ),
                    ))
                }
                Value::Word { text, .. } | Value::Quoted(text) => text,
            };
            Ok(Expr::Number {
                field: field.clone(),
                cmp: Cmp::Eq,
                value: number(field, &text, column)?,
            })
        }
        FieldKind::Date => Err(QueryError::at(
            field_column,
            format!(
                "{} takes ranges, not values: write {} >= 2026-11-22T10:00:00Z (or use --from/--to)",
                field.name(),
                field.name()
            ),
        )),
    }
}

fn number(field: &FieldRef, text: &str, column: usize) -> Result<i64, QueryError> {
    text.parse().map_err(|_| {
        QueryError::at(
            column,
            format!("{} is a number, and {text:?} is not one", field.name()),
        )
    })
}

fn compare(
    field: &FieldRef,
    field_column: usize,
    cmp: Cmp,
    text: &str,
    column: usize,
) -> Result<Expr, QueryError> {
    match field.kind() {
        FieldKind::Number => Ok(Expr::Number {
            field: field.clone(),
            cmp,
            value: number(field, text, column)?,
        }),
        FieldKind::Date => {
            let stamp: Timestamp = text.parse().map_err(|_| {
                QueryError::at(
                    column,
                    format!(
                        "time values are RFC 3339 timestamps (2026-11-22T10:00:00Z), not {text:?}"
                    ),
                )
            })?;
            Ok(Expr::Time {
                cmp,
                micros: stamp.as_microsecond(),
            })
        }
        FieldKind::Keyword => {
            let stream_hint = match field {
                FieldRef::Fixed(spec) if spec.source == Source::Stream => "",
                _ => " or wildcards (value*)",
            };
            Err(QueryError::at(
                field_column,
                format!(
                    "{} is a text field: ranges (>, >=, <, <=) apply only to numbers and time; use {}:value{stream_hint}",
                    field.name(),
                    field.name()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(field: &str, value: &str) -> Expr {
        Expr::Keyword {
            field: lookup(field),
            pattern: Pattern::Exact(value.into()),
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_juxtaposition_is_and() {
        assert_eq!(
            parse("verb:get or verb:list and stage:x").unwrap(),
            Expr::Or(vec![
                kw("verb", "get"),
                Expr::And(vec![kw("verb", "list"), kw("stage", "x")])
            ])
        );
        assert_eq!(
            parse("verb:get stage:x").unwrap(),
            Expr::And(vec![kw("verb", "get"), kw("stage", "x")])
        );
        assert_eq!(
            parse("NOT verb:(get OR list)").unwrap(),
            Expr::Not(Box::new(Expr::Or(vec![
                kw("verb", "get"),
                kw("verb", "list")
            ])))
        );
    }

    #[test]
    fn values_keep_colons_and_escapes() {
        assert_eq!(
            parse("user.username:system:serviceaccount:ci:deployer").unwrap(),
            kw("user.username", "system:serviceaccount:ci:deployer")
        );
        assert_eq!(
            parse(r#"userAgent:"kubectl/v1 (linux)""#).unwrap(),
            kw("userAgent", "kubectl/v1 (linux)")
        );
        assert_eq!(parse(r"verb:a\*b").unwrap(), kw("verb", "a*b"));
        assert_eq!(
            parse("verb:cre*").unwrap(),
            Expr::Keyword {
                field: lookup("verb"),
                pattern: Pattern::Wildcard {
                    parts: vec!["cre".into(), String::new()]
                }
            }
        );
        assert_eq!(
            parse("verb:*").unwrap(),
            Expr::Exists(lookup("verb").unwrap())
        );
        assert_eq!(parse("").unwrap(), Expr::All);
        assert_eq!(parse(" * ").unwrap(), Expr::All);
    }

    #[test]
    fn ranges_on_numbers_and_time() {
        assert_eq!(
            parse("responseStatus.code>=400").unwrap(),
            Expr::Number {
                field: lookup("responseStatus.code").unwrap(),
                cmp: Cmp::Ge,
                value: 400
            }
        );
        assert_eq!(
            parse("time < 2026-11-22T10:00:00Z").unwrap(),
            Expr::Time {
                cmp: Cmp::Lt,
                micros: 1_795_341_600_000_000
            }
        );
    }
}
