//! Splits a query into tokens, each with its 1-based column.
//!
//! Words end at whitespace, parentheses, `:` (the first one: the field
//! separator) and comparison operators; a value (after `:` or an operator,
//! or inside `field:(…)`) keeps colons (`user.username:system:serviceaccount:ci:deployer`).
//! A backslash escapes the next character; `"…"` is a quoted value with
//! `\"` and `\\` escapes, in which `*` is literal.

use crate::error::QueryError;

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    Colon,
    Cmp(crate::ast::Cmp),
    /// A word: its text with escapes removed, and which characters were
    /// unescaped `*` (wildcards).
    Word {
        text: String,
        stars: Vec<bool>,
    },
    Quoted(String),
    And,
    Or,
    Not,
    End,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) column: usize,
}

fn is_break(c: char, in_value: bool) -> bool {
    c.is_whitespace()
        || c == '('
        || c == ')'
        || c == '"'
        || (!in_value && (c == ':' || c == '<' || c == '>' || c == '='))
}

/// Tokenizes `query`.
pub(crate) fn lex(query: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    // For each open parenthesis: whether it opened a value group (`field:(…)`).
    let mut groups: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let after_colon = matches!(
            out.last(),
            Some(Token {
                tok: Tok::Colon | Tok::Cmp(_),
                ..
            })
        );
        let in_value = after_colon || groups.last().copied().unwrap_or(false);
        match c {
            '(' => groups.push(after_colon || in_value),
            ')' => {
                groups.pop();
            }
            _ => {}
        }
        let simple = match c {
            '(' => Some((Tok::LParen, 1)),
            ')' => Some((Tok::RParen, 1)),
            ':' if !in_value => Some((Tok::Colon, 1)),
            '>' | '<' if !in_value => {
                let eq = chars.get(i + 1) == Some(&'=');
                let cmp = match (c, eq) {
                    ('>', true) => crate::ast::Cmp::Ge,
                    ('>', false) => crate::ast::Cmp::Gt,
                    ('<', true) => crate::ast::Cmp::Le,
                    _ => crate::ast::Cmp::Lt,
                };
                Some((Tok::Cmp(cmp), if eq { 2 } else { 1 }))
            }
            '=' if !in_value => {
                return Err(QueryError::at(
                    column,
                    "'=' is not an operator here: write field:value (or >=, <= for ranges)",
                ))
            }
            _ => None,
        };
        if let Some((tok, len)) = simple {
            out.push(Token { tok, column });
            i += len;
            continue;
        }
        if c == '"' {
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => {
                        return Err(QueryError::at(column, "this quote is never closed"));
                    }
                    Some('"') => break,
                    Some('\\') => match chars.get(j + 1) {
                        Some(&next) => {
                            text.push(next);
                            j += 2;
                        }
                        None => return Err(QueryError::at(j + 1, "nothing to escape after '\\'")),
                    },
                    Some(&other) => {
                        text.push(other);
                        j += 1;
                    }
                }
            }
            out.push(Token {
                tok: Tok::Quoted(text),
                column,
            });
            i = j + 1;
            continue;
        }
        let mut text = String::new();
        let mut stars = Vec::new();
        let mut j = i;
        while j < chars.len() && !is_break(chars[j], in_value) {
            match chars[j] {
                '\\' => match chars.get(j + 1) {
                    Some(&next) => {
                        text.push(next);
                        stars.push(false);
                        j += 2;
                    }
                    None => return Err(QueryError::at(j + 1, "nothing to escape after '\\'")),
                },
                other => {
                    text.push(other);
                    stars.push(other == '*');
                    j += 1;
                }
            }
        }
        let escaped = stars.len() != j - i;
        let tok = match text.to_ascii_lowercase().as_str() {
            "and" if !escaped => Tok::And,
            "or" if !escaped => Tok::Or,
            "not" if !escaped => Tok::Not,
            _ => Tok::Word { text, stars },
        };
        out.push(Token { tok, column });
        i = j;
    }
    out.push(Token {
        tok: Tok::End,
        column: chars.len() + 1,
    });
    Ok(out)
}
