/// Reading the official VQA v1 / v2 questions and annotations files, streamed like CLEVR's.
///   questions:   {"questions": [{"image_id", "question", "question_id"} (v1 also "multiple_choices")]}
///   annotations: {"annotations": [{"question_id", "image_id", "question_type", "answer_type",
///                 "multiple_choice_answer", "answers": [{"answer", "answer_confidence", "answer_id"} × 10]}]}
module Lnmn.Core.Data.VqaJson

open System.Text.Json

type VqaQuestion =
    { /// Position of the question in its file.
      Index: int
      QuestionId: int
      ImageId: int
      Text: string }

type VqaAnnotation =
    { Index: int
      QuestionId: int
      ImageId: int
      /// One of the annotation files' question-type prefixes ("what color is the", "how many", …).
      QuestionType: string
      /// "yes/no", "number" or "other".
      AnswerType: string
      MultipleChoiceAnswer: string
      /// The human answers as written (ten in the official files).
      Answers: string[] }

let private readQuestion (path: string) (index: int) (e: JsonElement) : VqaQuestion =
    let fields = JsonStream.FieldReader(path, $"question {index}")
    if e.ValueKind <> JsonValueKind.Object then fields.Fail "is not a JSON object"
    { Index = index
      QuestionId = fields.Int(e, "question_id")
      ImageId = fields.Int(e, "image_id")
      Text = fields.String(e, "question") }

let private readAnnotation (path: string) (index: int) (e: JsonElement) : VqaAnnotation =
    let fields = JsonStream.FieldReader(path, $"annotation {index}")
    if e.ValueKind <> JsonValueKind.Object then fields.Fail "is not a JSON object"
    let answers =
        fields.AsArray(fields.Get(e, "answers"), "answers")
        |> List.map (fun a ->
            if a.ValueKind <> JsonValueKind.Object then fields.Fail "field 'answers' should hold objects"
            fields.String(a, "answer"))
        |> Array.ofList
    if answers.Length = 0 then fields.Fail "field 'answers' is empty"
    { Index = index
      QuestionId = fields.Int(e, "question_id")
      ImageId = fields.Int(e, "image_id")
      QuestionType = fields.String(e, "question_type")
      AnswerType = fields.String(e, "answer_type")
      MultipleChoiceAnswer = fields.String(e, "multiple_choice_answer")
      Answers = answers }

/// Streams the questions of a VQA questions file. Raises DataException on bad input.
let readQuestions (path: string) : seq<VqaQuestion> = JsonStream.items path "questions" "question" (readQuestion path)

/// Streams the annotations of a VQA annotations file. Raises DataException on bad input.
let readAnnotations (path: string) : seq<VqaAnnotation> = JsonStream.items path "annotations" "annotation" (readAnnotation path)
