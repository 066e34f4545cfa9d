//! The Sigma condition grammar: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`,
//! `N of them`, with `not` binding tighter than `and`, and `and` tighter than `or`.

/// A condition over named selections, before names are resolved to indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Selection(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    /// `N of pattern` (`1 of`, `any of`) or `all of pattern`; `them` is the pattern `*` but
    /// leaves out selections whose name starts with `_`.
    Of {
        quantity: Quantity,
        pattern: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    AtLeast(usize),
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Of,
    All,
    Number(usize),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut characters = text.char_indices().peekable();
    while let Some(&(start, character)) = characters.peek() {
        if character.is_whitespace() {
            characters.next();
            continue;
        }
        if character == '(' || character == ')' {
            tokens.push(if character == '(' { Token::Open } else { Token::Close });
            characters.next();
            continue;
        }
        if character == '|' {
            return Err("aggregation expressions (`|`) are deprecated and not supported".to_owned());
        }
        let mut end = start;
        while let Some(&(index, next)) = characters.peek() {
            if next.is_whitespace() || next == '(' || next == ')' || next == '|' {
                break;
            }
            end = index + next.len_utf8();
            characters.next();
        }
        let word = &text[start..end];
        tokens.push(match word.to_ascii_lowercase().as_str() {
            "and" => Token::And,
            "or" => Token::Or,
            "not" => Token::Not,
            "of" => Token::Of,
            "all" => Token::All,
            "any" => Token::Number(1),
            _ => match word.parse::<usize>() {
                Ok(number) => Token::Number(number),
                Err(_) => Token::Word(word.to_owned()),
            },
        });
    }
    Ok(tokens)
}

/// Parses a condition string.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
    };
    let condition = parser.or()?;
    if parser.position != parser.tokens.len() {
        return Err(format!(
            "unexpected token {:?} in condition",
            parser.tokens[parser.position]
        ));
    }
    Ok(condition)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut terms = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.position += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut terms = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.position += 1;
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn unary(&mut self) -> Result<Condition, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("condition nests too deeply".to_owned());
        }
        let result = match self.next() {
            Some(Token::Not) => Ok(Condition::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing closing parenthesis in condition".to_owned()),
                }
            }
            Some(Token::All) => self.of(Quantity::All),
            Some(Token::Number(number)) => self.of(Quantity::AtLeast(number.max(1))),
            Some(Token::Word(word)) => Ok(Condition::Selection(word)),
            Some(other) => Err(format!("unexpected token {other:?} in condition")),
            None => Err("condition ends too early".to_owned()),
        };
        self.depth -= 1;
        result
    }

    fn of(&mut self, quantity: Quantity) -> Result<Condition, String> {
        if self.next() != Some(Token::Of) {
            return Err("expected `of` in condition".to_owned());
        }
        match self.next() {
            Some(Token::Word(pattern)) => Ok(Condition::Of { quantity, pattern }),
            _ => Err("expected a selection name or pattern after `of`".to_owned()),
        }
    }
}

/// Whether a selection name matches an `of` pattern (`*` wildcards; `them` matches every name
/// not starting with `_`).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    if pattern == "them" {
        return !name.starts_with('_');
    }
    fn go(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| go(rest, &name[skip..])),
            Some((expected, rest)) => name.first() == Some(expected) && go(rest, &name[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(name: &str) -> Condition {
        Condition::Selection(name.to_owned())
    }

    #[test]
    fn precedence_is_not_and_or() {
        assert_eq!(
            parse_condition("a or not b and c").unwrap(),
            Condition::Or(vec![
                selection("a"),
                Condition::And(vec![Condition::Not(Box::new(selection("b"))), selection("c")])
            ])
        );
    }

    #[test]
    fn quantifiers_and_parentheses() {
        assert_eq!(
            parse_condition("(1 of sel* or all of them) and not filter_main_*").unwrap(),
            Condition::And(vec![
                Condition::Or(vec![
                    Condition::Of {
                        quantity: Quantity::AtLeast(1),
                        pattern: "sel*".to_owned()
                    },
                    Condition::Of {
                        quantity: Quantity::All,
                        pattern: "them".to_owned()
                    },
                ]),
                Condition::Not(Box::new(selection("filter_main_*"))),
            ])
        );
        assert!(parse_condition("selection | count() > 5").is_err());
        assert!(parse_condition("(a and b").is_err());
        assert!(name_matches("filter_*", "filter_main"));
        assert!(!name_matches("them", "_private"));
    }
}
