/// Durations in rule files, as Prometheus writes them: `30s`, `5m`, `1h30m`, `30d`, `1w`, or a number of seconds.
enum RuleDuration {
    private static let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    /// Seconds, or nil for anything else (negative, fractional, unknown unit, over ten years).
    static func seconds(_ text: String) -> Int? {
        if let plain = Int(text) { return (0...315_360_000).contains(plain) ? plain : nil }
        var total = 0
        var digits = ""
        for character in text {
            if character.isASCII && character.isNumber {
                digits.append(character)
            } else if let unit = units[character], let number = Int(digits), digits.count <= 9 {
                total += number * unit
                digits = ""
            } else {
                return nil
            }
        }
        guard digits.isEmpty, !text.isEmpty, total <= 315_360_000 else { return nil }
        return total
    }

    /// `seconds` written the short way: `90s` → `1m30s`, `86400` → `1d`.
    static func text(_ seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for (unit, length) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= length {
            text += "\(rest / length)\(unit)"
            rest %= length
        }
        return text
    }
}
