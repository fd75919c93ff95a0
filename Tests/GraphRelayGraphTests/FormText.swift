import Foundation

/// Form escaping for hand-built token requests.
enum FormText {
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics) ?? text
    }
}
