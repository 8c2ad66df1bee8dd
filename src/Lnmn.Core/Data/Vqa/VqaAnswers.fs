/// VQA answers: the official normalisation (the rules of the VQA evaluation script), the answer
/// vocabulary of the most frequent training answers, and soft targets min(1, humans / 3).
module Lnmn.Core.Data.VqaAnswers

open System
open System.Text.RegularExpressions

/// Removed, or turned into a space, by the official punctuation rule (':' and '\'' are kept).
let private punctuation = [ ';'; '/'; '['; ']'; '"'; '{'; '}'; '('; ')'; '='; '+'; '\\'; '_'; '-'; '>'; '<'; '@'; '`'; ','; '?'; '!' ]

let private commaBetweenDigits = Regex(@"(\d)(,)(\d)", RegexOptions.Compiled)

/// A period not followed by a digit (the official pattern's look-behind is malformed and never
/// applies, so "1." loses its period and "1.5" keeps it).
let private strayPeriod = Regex(@"\.(?!\d)", RegexOptions.Compiled)

let private numberWords =
    dict [ "none", "0"; "zero", "0"; "one", "1"; "two", "2"; "three", "3"; "four", "4"; "five", "5"
           "six", "6"; "seven", "7"; "eight", "8"; "nine", "9"; "ten", "10" ]

let private articles = set [ "a"; "an"; "the" ]

/// The contracted forms the official script restores. Its keys are these forms with some or all
/// apostrophes dropped ("couldnt've", "couldn'tve", "couldntve" → "couldn't've"). Its I'm, I've
/// and I'd've keys are capitalised and never match lower-cased text, so they are left out here too.
let private contractedForms =
    [ "ain't"; "aren't"; "can't"; "could've"; "couldn't"; "couldn't've"; "didn't"; "doesn't"; "don't"
      "hadn't"; "hadn't've"; "hasn't"; "haven't"; "he'd"; "he'd've"; "he's"; "how'd"; "how'll"; "how's"
      "isn't"; "it'd"; "it'd've"; "it'll"; "let's"; "ma'am"; "mightn't"; "mightn't've"; "might've"
      "mustn't"; "must've"; "needn't"; "not've"; "o'clock"; "oughtn't"; "shan't"; "she'd've"; "she's"
      "should've"; "shouldn't"; "shouldn't've"; "somebody'd've"; "somebody'll"; "somebody's"
      "someone'd"; "someone'd've"; "someone'll"; "someone's"; "something'd"; "something'd've"
      "something'll"; "that's"; "there'd"; "there'd've"; "there're"; "there's"; "they'd"; "they'd've"
      "they'll"; "they're"; "they've"; "'twas"; "wasn't"; "we'd've"; "we've"; "weren't"; "what'll"
      "what're"; "what's"; "what've"; "when's"; "where'd"; "where's"; "where've"; "who'd"; "who'd've"
      "who'll"; "who're"; "who's"; "who've"; "why'll"; "why're"; "why's"; "won't"; "would've"
      "wouldn't"; "wouldn't've"; "y'all"; "y'all'll"; "y'all'd've"; "you'd"; "you'd've"; "you'll"
      "you're"; "you've" ]

let private contractions =
    let variants (form: string) =
        let apostrophes = [ for i in 0 .. form.Length - 1 do if form[i] = '\'' then i ]
        [ for mask in 1 .. (1 <<< apostrophes.Length) - 1 ->
            let dropped = apostrophes |> List.indexed |> List.filter (fun (k, _) -> mask &&& (1 <<< k) <> 0) |> List.map snd |> set
            String(form |> Seq.indexed |> Seq.filter (fun (i, _) -> not (dropped.Contains i)) |> Seq.map snd |> Array.ofSeq) ]
    dict [ for form in contractedForms do for key in variants form -> key, form ]

/// The official punctuation rule: each mark is dropped where it touches a space (or anywhere, when
/// the text has a comma between digits), otherwise replaced by a space; then stray periods go.
let private stripPunctuation (text: string) =
    let anywhere = commaBetweenDigits.IsMatch text
    let mutable result = text
    for p in punctuation do
        let touchesSpace = text.Contains(string p + " ") || text.Contains(" " + string p)
        result <- result.Replace(string p, (if touchesSpace || anywhere then "" else " "))
    strayPeriod.Replace(result, "")

/// The official rule for words: lower case, number words to digits, articles dropped, then
/// contractions restored.
let private normaliseWords (text: string) =
    text.ToLowerInvariant().Split([| ' '; '\t'; '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun w -> match numberWords.TryGetValue w with | true, d -> d | _ -> w)
    |> Array.filter (fun w -> not (articles.Contains w))
    |> Array.map (fun w -> match contractions.TryGetValue w with | true, c -> c | _ -> w)
    |> String.concat " "

/// An answer as the VQA evaluation compares it: "Two dogs." → "2 dogs", "dont" → "don't".
let normalise (answer: string) =
    answer.Replace('\n', ' ').Replace('\t', ' ').Trim() |> stripPunctuation |> normaliseWords

/// The answer vocabulary: the `size` most frequent of the training questions' (normalised)
/// multiple-choice answers, one vote per question, ties in ordinal order.
let vocabulary (size: int) (multipleChoiceAnswers: seq<string>) : string[] =
    multipleChoiceAnswers
    |> Seq.countBy id
    |> Seq.sortWith (fun (a, n) (b, m) -> if n <> m then compare m n else String.CompareOrdinal(a, b))
    |> Seq.truncate size
    |> Seq.map fst
    |> Array.ofSeq

/// The default vocabulary size (Stack-NMN's VQA setup).
let defaultVocabularySize = 3000

/// Soft targets of one question: for each answer id the humans gave, min(1, humans who gave it / 3).
/// Ids below 0 (answers outside the vocabulary) get no target.
let softTargets (humanAnswerIds: int[]) : (int * float32) list =
    humanAnswerIds
    |> Array.filter (fun id -> id >= 0)
    |> Array.countBy id
    |> Array.sortBy fst
    |> Array.map (fun (id, n) -> id, min 1.0f (float32 n / 3.0f))
    |> List.ofArray
