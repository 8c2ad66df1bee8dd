/// CLEVR's vocabulary of things: attributes, relations, program functions, questions, answers.
module Lnmn.Core.Data.Clevr

type Attribute =
    | Color
    | Shape
    | Size
    | Material

type Relation =
    | Left
    | Right
    | Front
    | Behind

module Attribute =
    let all = [ Color; Shape; Size; Material ]
    let name a = match a with Color -> "color" | Shape -> "shape" | Size -> "size" | Material -> "material"

    let values a =
        match a with
        | Color -> [ "gray"; "red"; "blue"; "green"; "brown"; "purple"; "cyan"; "yellow" ]
        | Shape -> [ "cube"; "sphere"; "cylinder" ]
        | Size -> [ "large"; "small" ]
        | Material -> [ "rubber"; "metal" ]

    let tryParse (s: string) = all |> List.tryFind (fun a -> name a = s)

module Relation =
    let all = [ Left; Right; Front; Behind ]
    let name r = match r with Left -> "left" | Right -> "right" | Front -> "front" | Behind -> "behind"
    let tryParse (s: string) = all |> List.tryFind (fun r -> name r = s)

/// The functions of CLEVR's question programs, as they appear in the questions JSON.
type Function =
    | Scene
    | Filter of Attribute * value: string
    | Unique
    | Relate of Relation
    | Union
    | Intersect
    | Count
    | Exist
    | Query of Attribute
    /// Objects other than the input one sharing its attribute value (`same_color`, …).
    | Same of Attribute
    | EqualAttribute of Attribute
    | EqualInteger
    | LessThan
    | GreaterThan

module Function =
    let name f =
        match f with
        | Scene -> "scene"
        | Filter(a, _) -> $"filter_{Attribute.name a}"
        | Unique -> "unique"
        | Relate _ -> "relate"
        | Union -> "union"
        | Intersect -> "intersect"
        | Count -> "count"
        | Exist -> "exist"
        | Query a -> $"query_{Attribute.name a}"
        | Same a -> $"same_{Attribute.name a}"
        | EqualAttribute a -> $"equal_{Attribute.name a}"
        | EqualInteger -> "equal_integer"
        | LessThan -> "less_than"
        | GreaterThan -> "greater_than"

    let valueInputs f =
        match f with
        | Filter(_, v) -> [ v ]
        | Relate r -> [ Relation.name r ]
        | _ -> []

    /// How many program inputs the function takes.
    let arity f =
        match f with
        | Scene -> 0
        | Union | Intersect | EqualAttribute _ | EqualInteger | LessThan | GreaterThan -> 2
        | _ -> 1

    /// Parses a function name and its value inputs; Error says what is wrong.
    let parse (name: string) (valueInputs: string list) : Result<Function, string> =
        let suffix (prefix: string) = if name.StartsWith prefix then Attribute.tryParse (name.Substring prefix.Length) else None
        let noValues f = if List.isEmpty valueInputs then Ok f else Error $"function {name} takes no value inputs"
        match name, valueInputs with
        | "scene", _ -> noValues Scene
        | "unique", _ -> noValues Unique
        | "union", _ -> noValues Union
        | "intersect", _ -> noValues Intersect
        | "count", _ -> noValues Count
        | "exist", _ -> noValues Exist
        | "equal_integer", _ -> noValues EqualInteger
        | "less_than", _ -> noValues LessThan
        | "greater_than", _ -> noValues GreaterThan
        | "relate", [ r ] ->
            match Relation.tryParse r with
            | Some r -> Ok(Relate r)
            | None -> Error $"unknown relation '{r}'"
        | _ ->
            match suffix "filter_", suffix "query_", suffix "same_", suffix "equal_" with
            | Some a, _, _, _ ->
                match valueInputs with
                | [ v ] when List.contains v (Attribute.values a) -> Ok(Filter(a, v))
                | [ v ] -> Error $"unknown {Attribute.name a} '{v}'"
                | _ -> Error $"function {name} takes one value input"
            | _, Some a, _, _ -> noValues (Query a)
            | _, _, Some a, _ -> noValues (Same a)
            | _, _, _, Some a -> noValues (EqualAttribute a)
            | _ -> Error $"unknown program function '{name}'"

type ProgramStep = { Function: Function; Inputs: int list }

type Question =
    { /// Position of the question in its file.
      Index: int
      Text: string
      /// None in CLEVR's test split.
      Answer: string option
      ImageIndex: int
      ImageFilename: string
      /// None in the test split and in CLEVR-Humans.
      Program: ProgramStep list option
      FamilyIndex: int option
      Split: string }

type Category =
    | Count
    | Exist
    | CompareNumbers
    | QueryAttribute
    | CompareAttribute

module Category =
    let all = [ Count; Exist; CompareNumbers; QueryAttribute; CompareAttribute ]
    let name c =
        match c with
        | Count -> "count" | Exist -> "exist" | CompareNumbers -> "compare_numbers"
        | QueryAttribute -> "query_attribute" | CompareAttribute -> "compare_attribute"

/// The 13 functions a CLEVR program can end with: the question's subtype.
type LastFunction =
    | LastCount
    | LastExist
    | LastEqualInteger
    | LastLessThan
    | LastGreaterThan
    | LastQuery of Attribute
    | LastEqualAttribute of Attribute

module LastFunction =
    let all =
        [ LastCount; LastExist; LastEqualInteger; LastLessThan; LastGreaterThan ]
        @ [ for a in Attribute.all -> LastQuery a ] @ [ for a in Attribute.all -> LastEqualAttribute a ]

    let ofFunction f =
        match f with
        | Function.Count -> Some LastCount
        | Function.Exist -> Some LastExist
        | EqualInteger -> Some LastEqualInteger
        | LessThan -> Some LastLessThan
        | GreaterThan -> Some LastGreaterThan
        | Query a -> Some(LastQuery a)
        | EqualAttribute a -> Some(LastEqualAttribute a)
        | _ -> None

    let name l =
        match l with
        | LastCount -> "count" | LastExist -> "exist" | LastEqualInteger -> "equal_integer"
        | LastLessThan -> "less_than" | LastGreaterThan -> "greater_than"
        | LastQuery a -> $"query_{Attribute.name a}" | LastEqualAttribute a -> $"equal_{Attribute.name a}"

    let category l =
        match l with
        | LastCount -> Count
        | LastExist -> Exist
        | LastEqualInteger | LastLessThan | LastGreaterThan -> CompareNumbers
        | LastQuery _ -> QueryAttribute
        | LastEqualAttribute _ -> CompareAttribute

/// The subtype of a program: its last function, if that is one of the 13 answer-producing ones.
let lastFunction (program: ProgramStep list) =
    program |> List.tryLast |> Option.bind (fun s -> LastFunction.ofFunction s.Function)

let category (program: ProgramStep list) = lastFunction program |> Option.map LastFunction.category

/// CLEVR's 28 answers in a fixed order: yes/no, counts 0–10, then attribute values.
let answers: string list =
    [ "yes"; "no" ] @ [ for i in 0..10 -> string i ] @ List.collect Attribute.values Attribute.all
