#include "server/graphql/parser.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace cairn::internal::graphql {
namespace {

struct Token {
  enum class Kind { kEnd, kPunct, kName, kInt, kFloat, kString, kBlockString };
  Kind kind = Kind::kEnd;
  std::string text;  // punctuator, name, number as written, or decoded string
  Location location;
};

// Thrown inside this file only, caught by Parse(): the recursive descent
// stays readable without a Status check after every token.
struct SyntaxError {
  std::string message;
  Location location;
};

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The spec's BlockStringValue(): common indentation and blank first/last
// lines removed, line terminators normalised to \n.
std::string BlockStringValue(std::string_view raw) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= raw.size(); ++i) {
    if (i == raw.size() || raw[i] == '\n' || raw[i] == '\r') {
      lines.push_back(raw.substr(start, i - start));
      if (i + 1 < raw.size() && raw[i] == '\r' && raw[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  auto indent_of = [](std::string_view l) {
    std::size_t n = 0;
    while (n < l.size() && (l[n] == ' ' || l[n] == '\t')) ++n;
    return n;
  };
  std::optional<std::size_t> common;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::size_t n = indent_of(lines[i]);
    if (n < lines[i].size() && (!common || n < *common)) common = n;
  }
  if (common) {
    for (std::size_t i = 1; i < lines.size(); ++i) lines[i].remove_prefix(std::min(*common, lines[i].size()));
  }
  auto blank = [&](std::string_view l) { return indent_of(l) == l.size(); };
  std::size_t first = 0, last = lines.size();
  while (first < last && blank(lines[first])) ++first;
  while (last > first && blank(lines[last - 1])) --last;
  std::string out;
  for (std::size_t i = first; i < last; ++i) {
    if (i > first) out += '\n';
    out += lines[i];
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view text, std::size_t max_tokens) : s_(text), max_tokens_(max_tokens) {
    if (s_.size() >= 3 && s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // byte order mark
  }

  Token Next() {
    SkipIgnored();
    if (++tokens_ > max_tokens_) Fail("the document has more than " + std::to_string(max_tokens_) + " tokens");
    Token t;
    t.location = Here();
    if (pos_ >= s_.size()) return t;
    const char c = s_[pos_];
    if (std::string_view("!$&()[]{}:=@|").find(c) != std::string_view::npos) {
      t.kind = Token::Kind::kPunct;
      t.text = std::string(1, c);
      ++pos_;
    } else if (c == '.') {
      if (s_.substr(pos_, 3) != "...") Fail("unexpected \".\": did you mean \"...\"?");
      t.kind = Token::Kind::kPunct;
      t.text = "...";
      pos_ += 3;
    } else if (IsNameStart(c)) {
      const std::size_t b = pos_;
      while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
      t.kind = Token::Kind::kName;
      t.text = std::string(s_.substr(b, pos_ - b));
    } else if (c == '-' || IsDigit(c)) {
      LexNumber(t);
    } else if (s_.substr(pos_, 3) == "\"\"\"") {
      LexBlockString(t);
    } else if (c == '"') {
      LexString(t);
    } else {
      Fail(Describe(c));
    }
    return t;
  }

  [[noreturn]] void Fail(const std::string& message) const { throw SyntaxError{"Syntax Error: " + message, Here()}; }

 private:
  static std::string Describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string("unexpected character \"") + c + "\"";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", u);
    return std::string("unexpected character ") + buf;
  }

  Location Here() const { return {line_, static_cast<int>(pos_ - line_start_) + 1}; }

  void NewLine(std::size_t after) {
    ++line_;
    line_start_ = after;
  }

  void SkipIgnored() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == ',') {
        ++pos_;
      } else if (c == '\n') {
        NewLine(++pos_);
      } else if (c == '\r') {
        ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
        NewLine(pos_);
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n' && s_[pos_] != '\r') ++pos_;
      } else {
        return;
      }
    }
  }

  void LexNumber(Token& t) {
    const std::size_t b = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || !IsDigit(s_[pos_])) Fail("a number needs a digit after \"-\"");
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && IsDigit(s_[pos_ + 1])) Fail("a number must not start with 0");
    while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    bool is_float = false;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      is_float = true;
      ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) Fail("a number needs digits after \".\"");
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_float = true;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) Fail("a number needs digits in its exponent");
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (IsNameStart(s_[pos_]) || s_[pos_] == '.')) Fail("a number runs into a name or \".\"");
    t.kind = is_float ? Token::Kind::kFloat : Token::Kind::kInt;
    t.text = std::string(s_.substr(b, pos_ - b));
  }

  // The hex digits s_[from, to) as a number; Fail(`what`) on anything else.
  std::uint32_t Hex(std::size_t from, std::size_t to, const char* what) const {
    if (to > s_.size()) Fail(what);
    std::uint32_t v = 0;
    for (std::size_t i = from; i < to; ++i) {
      const char c = s_[i];
      int digit = -1;
      if (IsDigit(c)) digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) Fail(what);
      v = (v << 4) | static_cast<std::uint32_t>(digit);
    }
    return v;
  }

  // After "\u" at pos_: one code point (a surrogate pair counts as one).
  std::uint32_t UnicodeEscape() {
    std::uint32_t cp = 0;
    if (pos_ < s_.size() && s_[pos_] == '{') {  // \u{1F600}
      std::size_t end = s_.find('}', pos_);
      if (end == std::string_view::npos || end == pos_ + 1 || end - pos_ > 7) Fail("malformed \\u{...} escape");
      cp = Hex(pos_ + 1, end, "malformed \\u{...} escape");
      pos_ = end + 1;
    } else {
      cp = Hex(pos_, pos_ + 4, "\\u needs four hex digits");
      pos_ += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (s_.substr(pos_, 2) != "\\u") Fail("a high surrogate must be followed by a low surrogate");
        const std::uint32_t lo = Hex(pos_ + 2, pos_ + 6, "\\u needs four hex digits");
        if (lo < 0xDC00 || lo > 0xDFFF) Fail("a high surrogate must be followed by a low surrogate");
        pos_ += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) Fail("\\u escape is not a Unicode scalar value");
    return cp;
  }

  void LexString(Token& t) {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) Fail("unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c == '\n' || c == '\r')
        Fail("unterminated string (a string cannot span lines: use \"\"\"block strings\"\"\")");
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') Fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= s_.size()) Fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          AppendUtf8(out, UnicodeEscape());
          break;
        default:
          Fail(std::string("invalid escape sequence \\") + e);
      }
    }
    t.kind = Token::Kind::kString;
    t.text = std::move(out);
  }

  void LexBlockString(Token& t) {
    pos_ += 3;
    std::string raw;
    for (;;) {
      if (pos_ >= s_.size()) Fail("unterminated block string");
      if (s_.substr(pos_, 3) == "\"\"\"") {
        pos_ += 3;
        break;
      }
      if (s_.substr(pos_, 4) == "\\\"\"\"") {
        raw += "\"\"\"";
        pos_ += 4;
        continue;
      }
      const char c = s_[pos_++];
      if (c == '\n' || (c == '\r' && (pos_ >= s_.size() || s_[pos_] != '\n'))) {
        NewLine(pos_);
      } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') {
        Fail("control character in a block string");
      }
      raw += c;
    }
    t.kind = Token::Kind::kBlockString;
    t.text = BlockStringValue(raw);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;
  std::size_t tokens_ = 0;
  std::size_t max_tokens_;
};

class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : lex_(text, limits.max_tokens), limits_(limits) {
    tok_ = lex_.Next();
  }

  Document ParseDocument() {
    Document doc;
    if (tok_.kind == Token::Kind::kEnd) Fail("the document is empty: send a query such as { viewer { id } }");
    while (tok_.kind != Token::Kind::kEnd) {
      if (Peek("{")) {
        Operation op;
        op.location = tok_.location;
        op.selections = ParseSelectionSet();
        doc.operations.push_back(std::move(op));
      } else if (PeekName("query") || PeekName("mutation") || PeekName("subscription")) {
        doc.operations.push_back(ParseOperation());
      } else if (PeekName("fragment")) {
        doc.fragments.push_back(ParseFragment());
      } else {
        Fail("expected an operation or a fragment, found " + Found());
      }
    }
    return doc;
  }

  [[noreturn]] void Fail(const std::string& message) const { throw SyntaxError{"Syntax Error: " + message, tok_.location}; }

 private:
  // Bounds the recursion; one per selection set, list or object entered.
  class Nest {
   public:
    explicit Nest(Parser& p) : p_(p) {
      if (++p_.depth_ > p_.limits_.max_depth) {
        p_.Fail("the document nests deeper than " + std::to_string(p_.limits_.max_depth) + " levels");
      }
    }
    ~Nest() { --p_.depth_; }

   private:
    Parser& p_;
  };

  std::string Found() const {
    switch (tok_.kind) {
      case Token::Kind::kEnd:
        return "the end of the document";
      case Token::Kind::kString:
      case Token::Kind::kBlockString:
        return "a string";
      default:
        return "\"" + tok_.text + "\"";
    }
  }
  bool Peek(std::string_view punct) const { return tok_.kind == Token::Kind::kPunct && tok_.text == punct; }
  bool PeekName(std::string_view name) const { return tok_.kind == Token::Kind::kName && tok_.text == name; }
  void Advance() { tok_ = lex_.Next(); }
  bool Skip(std::string_view punct) {
    if (!Peek(punct)) return false;
    Advance();
    return true;
  }
  void Expect(std::string_view punct) {
    if (!Skip(punct)) Fail("expected \"" + std::string(punct) + "\", found " + Found());
  }
  std::string Name(std::string_view what) {
    if (tok_.kind != Token::Kind::kName) Fail("expected " + std::string(what) + ", found " + Found());
    std::string n = std::move(tok_.text);
    Advance();
    return n;
  }

  Operation ParseOperation() {
    Operation op;
    op.location = tok_.location;
    op.type = Name("an operation type");
    if (tok_.kind == Token::Kind::kName) op.name = Name("a name");
    if (Skip("(")) {
      do {
        VariableDefinition v;
        v.location = tok_.location;
        Expect("$");
        v.name = Name("a variable name");
        Expect(":");
        v.type = ParseType();
        if (Skip("=")) v.default_value = ParseValue(/*is_const=*/true);
        (void)ParseDirectives(true);  // allowed on variables; none has a meaning here
        op.variables.push_back(std::move(v));
      } while (!Skip(")"));
    }
    op.directives = ParseDirectives(false);
    op.selections = ParseSelectionSet();
    return op;
  }

  Fragment ParseFragment() {
    Fragment f;
    f.location = tok_.location;
    Advance();  // "fragment"
    if (PeekName("on")) Fail("a fragment needs a name before \"on\"");
    f.name = Name("a fragment name");
    if (!PeekName("on")) Fail("expected \"on\", found " + Found());
    Advance();
    f.type_condition = Name("a type name");
    f.directives = ParseDirectives(false);
    f.selections = ParseSelectionSet();
    return f;
  }

  TypeRef ParseType() {
    TypeRef t;
    if (Skip("[")) {
      Nest nest(*this);
      t.item = std::make_shared<TypeRef>(ParseType());
      Expect("]");
    } else {
      t.name = Name("a type");
    }
    t.non_null = Skip("!");
    return t;
  }

  std::vector<Directive> ParseDirectives(bool is_const) {
    std::vector<Directive> out;
    while (Peek("@")) {
      Directive d;
      d.location = tok_.location;
      Advance();
      d.name = Name("a directive name");
      d.arguments = ParseArguments(is_const);
      out.push_back(std::move(d));
    }
    return out;
  }

  Arguments ParseArguments(bool is_const) {
    Arguments args;
    if (!Skip("(")) return args;
    do {
      std::string name = Name("an argument name");
      Expect(":");
      args.push_back({std::move(name), ParseValue(is_const)});
    } while (!Skip(")"));
    return args;
  }

  SelectionSet ParseSelectionSet() {
    Nest nest(*this);
    Expect("{");
    SelectionSet set;
    do {
      set.push_back(ParseSelection());
    } while (!Skip("}"));
    return set;
  }

  Selection ParseSelection() {
    Selection s;
    s.location = tok_.location;
    if (Skip("...")) {
      if (tok_.kind == Token::Kind::kName && tok_.text != "on") {
        s.kind = Selection::Kind::kFragmentSpread;
        s.name = Name("a fragment name");
        s.directives = ParseDirectives(false);
        return s;
      }
      s.kind = Selection::Kind::kInlineFragment;
      if (PeekName("on")) {
        Advance();
        s.type_condition = Name("a type name");
      }
      s.directives = ParseDirectives(false);
      s.selections = ParseSelectionSet();
      return s;
    }
    s.name = Name("a field name");
    if (Skip(":")) {
      s.alias = std::move(s.name);
      s.name = Name("a field name after the alias");
    }
    s.arguments = ParseArguments(false);
    s.directives = ParseDirectives(false);
    if (Peek("{")) s.selections = ParseSelectionSet();
    return s;
  }

  Value ParseValue(bool is_const) {
    Value v;
    v.location = tok_.location;
    switch (tok_.kind) {
      case Token::Kind::kPunct:
        if (Peek("$")) {
          if (is_const) Fail("a variable cannot be used in a default value");
          Advance();
          v.kind = Value::Kind::kVariable;
          v.text = Name("a variable name");
          return v;
        }
        if (Peek("[")) {
          Nest nest(*this);
          Advance();
          v.kind = Value::Kind::kList;
          while (!Skip("]")) v.list.push_back(ParseValue(is_const));
          return v;
        }
        if (Peek("{")) {
          Nest nest(*this);
          Advance();
          v.kind = Value::Kind::kObject;
          while (!Skip("}")) {
            std::string name = Name("a field name");
            Expect(":");
            v.fields.push_back({std::move(name), ParseValue(is_const)});
          }
          return v;
        }
        break;
      case Token::Kind::kInt:
      case Token::Kind::kFloat:
        v.kind = tok_.kind == Token::Kind::kInt ? Value::Kind::kInt : Value::Kind::kFloat;
        v.text = std::move(tok_.text);
        Advance();
        return v;
      case Token::Kind::kString:
      case Token::Kind::kBlockString:
        v.kind = Value::Kind::kString;
        v.text = std::move(tok_.text);
        Advance();
        return v;
      case Token::Kind::kName:
        if (tok_.text == "true" || tok_.text == "false") {
          v.kind = Value::Kind::kBoolean;
          v.boolean = tok_.text == "true";
        } else if (tok_.text == "null") {
          v.kind = Value::Kind::kNull;
        } else {
          v.kind = Value::Kind::kEnum;
          v.text = std::move(tok_.text);
        }
        Advance();
        return v;
      case Token::Kind::kEnd:
        break;
    }
    Fail("expected a value, found " + Found());
  }

  Lexer lex_;
  ParseLimits limits_;
  Token tok_;
  int depth_ = 0;
};

}  // namespace

StatusOr<Document> Parse(std::string_view text, const ParseLimits& limits, Location* error_location) {
  if (text.size() > limits.max_bytes) {
    if (error_location) *error_location = {1, 1};
    return InvalidArgumentError("Syntax Error: the document is " + std::to_string(text.size()) +
                                " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  try {
    Parser parser(text, limits);
    return parser.ParseDocument();
  } catch (const SyntaxError& e) {
    if (error_location) *error_location = e.location;
    return InvalidArgumentError(e.message + " (line " + std::to_string(e.location.line) + ", column " +
                                std::to_string(e.location.column) + ")");
  }
}

}  // namespace cairn::internal::graphql
