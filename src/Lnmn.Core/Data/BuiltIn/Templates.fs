/// Question families of the nine CLEVR template groups: each samples a program (in CLEVR's
/// function vocabulary) and its English text for a given scene. Objects a question refers to
/// are described with just enough attributes to single them out; the final check that every
/// reference is unique is the program's execution (`Scenes.execute`).
module Lnmn.Core.Data.Templates

open System
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

type Description = Map<Attribute, string>

/// Where a family builds its program and draws its choices.
type Context =
    { Rng: Random
      Scene: Scene
      Synonyms: bool
      Steps: ResizeArray<ProgramStep> }

type Family =
    { Index: int
      Group: TemplateGroup
      Name: string
      /// Fills ctx.Steps and returns the question text; None if this scene does not fit.
      Sample: Context -> string option }

let private pick (rng: Random) (xs: 'T list) = xs[rng.Next xs.Length]

let private word (ctx: Context) (choices: string list) = if ctx.Synonyms then pick ctx.Rng choices else choices.Head

let private add (ctx: Context) f inputs =
    ctx.Steps.Add { Function = f; Inputs = inputs }
    ctx.Steps.Count - 1

let private evaluate (ctx: Context) (step: int) =
    execute ctx.Scene (List.ofSeq (Seq.take (step + 1) ctx.Steps))

let private objectsAt ctx step = match evaluate ctx step with Ok(Objects s) -> s | _ -> Set.empty

let private objectAt ctx step = match evaluate ctx step with Ok(Object o) -> Some o | _ -> None

let private filterOrder = [ Size; Color; Material; Shape ]

let private filters (ctx: Context) (d: Description) (input: int) =
    filterOrder |> List.fold (fun i a -> match d.TryFind a with Some v -> add ctx (Filter(a, v)) [ i ] | None -> i) input

let private nounPhrase (ctx: Context) (d: Description) (plural: bool) =
    let value a synonyms = d.TryFind a |> Option.map (fun v -> word ctx (synonyms v))
    let size = value Size (fun v -> if v = "large" then [ "large"; "big" ] else [ "small"; "tiny" ])
    let color = value Color (fun v -> [ v ])
    let material = value Material (fun v -> if v = "metal" then [ "metal"; "metallic"; "shiny" ] else [ "rubber"; "matte" ])
    let shape =
        match d.TryFind Shape with
        | Some "cube" -> word ctx [ "cube"; "block" ]
        | Some "sphere" -> word ctx [ "sphere"; "ball" ]
        | Some s -> s
        | None -> word ctx [ "thing"; "object" ]
    let noun = if plural then shape + "s" else shape
    String.Join(" ", List.choose id [ size; color; material; Some noun ])

let private relationPhrase ctx r =
    match r with
    | Left -> word ctx [ "left of"; "to the left of" ]
    | Right -> word ctx [ "right of"; "to the right of" ]
    | Front -> "in front of"
    | Behind -> "behind"

let private attributeOf (ctx: Context) (o: int) a = SceneObject.attribute a ctx.Scene.Objects[o]

/// The fewest attributes (in random order, never those in `exclude`) that single out `target`
/// among `candidates`; sometimes the shape is named although not needed.
let private describeUniquely (ctx: Context) (candidates: Set<int>) (target: int) (exclude: Attribute list) : Description option =
    let order = Attribute.all |> List.filter (fun a -> not (List.contains a exclude)) |> List.sortBy (fun _ -> ctx.Rng.Next())
    let matches (d: Description) o = d |> Map.forall (fun a v -> attributeOf ctx o a = v)
    let rec grow (d: Description) rest =
        let left = candidates |> Set.filter (matches d)
        if left.Count = 1 && left.Contains target then Some d
        else
            match rest with
            | a :: more -> grow (d.Add(a, attributeOf ctx target a)) more
            | [] -> None
    grow Map.empty order
    |> Option.map (fun d ->
        if not (d.ContainsKey Shape) && not (List.contains Shape exclude) && ctx.Rng.Next 2 = 0 then d.Add(Shape, attributeOf ctx target Shape) else d)

/// A description of a set: part of some object's attributes, or random values.
let private describeSet (ctx: Context) (candidates: Set<int>) : Description =
    let chosen =
        if not candidates.IsEmpty && ctx.Rng.Next 2 = 0 then
            let o = Seq.item (ctx.Rng.Next candidates.Count) candidates
            [ for a in Attribute.all do if ctx.Rng.Next 2 = 0 then yield a, attributeOf ctx o a ]
        else [ for a in Attribute.all do if ctx.Rng.Next 10 < 3 then yield a, pick ctx.Rng (Attribute.values a) ]
    Map.ofList chosen

let private randomObject (ctx: Context) (s: Set<int>) = if s.IsEmpty then None else Some(Seq.item (ctx.Rng.Next s.Count) s)

type private OptionBuilder() =
    member _.Bind(x, f) = Option.bind f x
    member _.Return x = Some x
    member _.ReturnFrom(x: 'T option) = x

let private option = OptionBuilder()

/// A uniquely described object reached through `hops` relations, as (step, text "the …").
let rec private reference (ctx: Context) (hops: int) (exclude: Attribute list) : (int * string) option =
    if hops = 0 then
        let sceneStep = add ctx Scene []
        option {
            let! target = randomObject ctx (objectsAt ctx sceneStep)
            let! d = describeUniquely ctx (objectsAt ctx sceneStep) target exclude
            let step = add ctx Unique [ filters ctx d sceneStep ]
            return step, "the " + nounPhrase ctx d false
        }
    else
        option {
            let! anchor, anchorText = reference ctx (hops - 1) []
            let! o = objectAt ctx anchor
            let relations = Relation.all |> List.filter (fun r -> not (List.isEmpty (ctx.Scene.Relationships[r]).[o]))
            if relations.IsEmpty then return! None
            else
                let r = pick ctx.Rng relations
                let related = add ctx (Relate r) [ anchor ]
                let candidates = objectsAt ctx related
                let! target = randomObject ctx candidates
                let! d = describeUniquely ctx candidates target exclude
                let step = add ctx Unique [ filters ctx d related ]
                let connector = if ctx.Synonyms && ctx.Rng.Next 2 = 0 then " that is " else " "
                return step, "the " + nounPhrase ctx d false + connector + relationPhrase ctx r + " " + anchorText
        }

/// A described set reached through `hops` relations: (step, plural noun phrase, tail text).
let private objectSet (ctx: Context) (hops: int) : (int * string * string) option =
    if hops = 0 then
        let sceneStep = add ctx Scene []
        let d = describeSet ctx (objectsAt ctx sceneStep)
        Some(filters ctx d sceneStep, nounPhrase ctx d true, "")
    else
        option {
            let! anchor, anchorText = reference ctx (hops - 1) []
            let r = pick ctx.Rng Relation.all
            let related = add ctx (Relate r) [ anchor ]
            let d = describeSet ctx (objectsAt ctx related)
            return filters ctx d related, nounPhrase ctx d true, " " + relationPhrase ctx r + " " + anchorText
        }

let private queryText ctx a (subject: string) =
    match a with
    | Color -> $"What color is {subject}?"
    | Shape -> $"What shape is {subject}?"
    | Size -> word ctx [ $"What size is {subject}?"; $"How big is {subject}?" ]
    | Material -> word ctx [ $"What material is {subject}?"; $"What is {subject} made of?" ]

let private capitalised (s: string) = string (Char.ToUpperInvariant s[0]) + s.Substring 1

let private countText (plural: string) (tail: string) =
    if tail = "" then $"How many {plural} are there?" else $"How many {plural} are{tail}?"

let private existText (plural: string) (tail: string) = $"Are there any {plural}{tail}?"

let private hopFamilies group hops : (TemplateGroup * string * (Context -> string option)) list =
    let prefix = TemplateGroup.name group
    [ yield group, $"{prefix}_count", (fun ctx -> objectSet ctx hops |> Option.map (fun (s, pl, tail) -> add ctx Function.Count [ s ] |> ignore; countText pl tail))
      yield group, $"{prefix}_exist", (fun ctx -> objectSet ctx hops |> Option.map (fun (s, pl, tail) -> add ctx Function.Exist [ s ] |> ignore; existText pl tail))
      for a in Attribute.all ->
          group, $"{prefix}_query_{Attribute.name a}",
          (fun ctx -> reference ctx hops [ a ] |> Option.map (fun (s, text) -> add ctx (Query a) [ s ] |> ignore; queryText ctx a text)) ]

/// Two relations from two anchors, combined with `combine` (single_and's Intersect).
let private twoAnchors (ctx: Context) combine =
    option {
        let! a, aText = reference ctx 0 []
        let! b, bText = reference ctx 0 []
        let r1 = pick ctx.Rng Relation.all
        let r2 = pick ctx.Rng Relation.all
        let ra = add ctx (Relate r1) [ a ]
        let rb = add ctx (Relate r2) [ b ]
        let both = add ctx combine [ ra; rb ]
        return both, $"{relationPhrase ctx r1} {aText}", $"{relationPhrase ctx r2} {bText}"
    }

let private andFamilies =
    let group = SingleAnd
    [ yield group, "single_and_count", (fun ctx -> option {
          let! both, p1, p2 = twoAnchors ctx Intersect
          let d = describeSet ctx (objectsAt ctx both)
          add ctx Function.Count [ filters ctx d both ] |> ignore
          return $"How many {nounPhrase ctx d true} are both {p1} and {p2}?" })
      for a in Attribute.all ->
          group, $"single_and_query_{Attribute.name a}", (fun ctx -> option {
              let! both, p1, p2 = twoAnchors ctx Intersect
              let candidates = objectsAt ctx both
              let! target = randomObject ctx candidates
              let! d = describeUniquely ctx candidates target [ a ]
              add ctx (Query a) [ add ctx Unique [ filters ctx d both ] ] |> ignore
              return queryText ctx a $"the {nounPhrase ctx d false} that is {p1} and {p2}" }) ]

/// "How many things are [either] <first> or <second>?"
let private eitherCountText ctx (first: string) (second: string) =
    let either = word ctx [ ""; "either " ]
    $"How many things are {either}{first} or {second}?"

/// A described set and its relation: "cubes [that are] left of the sphere".
let private relatedSetText ctx (described: string) (tail: string) = described + word ctx [ ""; " that are" ] + tail

let private orFamilies =
    let group = SingleOr
    let twoSets (ctx: Context) =
        let s1 = add ctx Scene []
        let d1 = describeSet ctx (objectsAt ctx s1)
        let f1 = filters ctx d1 s1
        let s2 = add ctx Scene []
        let d2 = describeSet ctx (objectsAt ctx s2)
        let f2 = filters ctx d2 s2
        add ctx Union [ f1; f2 ], nounPhrase ctx d1 true, nounPhrase ctx d2 true
    [ group, "single_or_count", (fun ctx ->
          let u, p1, p2 = twoSets ctx
          add ctx Function.Count [ u ] |> ignore
          Some(eitherCountText ctx p1 p2))
      // CLEVR's "things that are either Xs [that are] R the A, or Ys [that are] R2 the B": each
      // related set has its own description, and nothing filters the union.
      group, "single_or_relate_count", (fun ctx -> option {
          let! first, p1, tail1 = objectSet ctx 1
          let! second, p2, tail2 = objectSet ctx 1
          add ctx Function.Count [ add ctx Union [ first; second ] ] |> ignore
          return eitherCountText ctx (relatedSetText ctx p1 tail1) (relatedSetText ctx p2 tail2) })
      // CLEVR's "things that are either X [that are] R the Y, or Z".
      group, "single_or_relate_set_count", (fun ctx -> option {
          let! related, described, tail = objectSet ctx 1
          let! otherStep, other, _ = objectSet ctx 0
          add ctx Function.Count [ add ctx Union [ related; otherStep ] ] |> ignore
          return eitherCountText ctx (relatedSetText ctx described tail) other }) ]

let private sameFamilies =
    let group = SameRelate
    [ for a in Attribute.all do
          let an = Attribute.name a
          let same (ctx: Context) = reference ctx 0 [] |> Option.map (fun (r, text) -> add ctx (Same a) [ r ], text)
          yield group, $"same_{an}_count", (fun ctx -> option {
              let! s, text = same ctx
              let d = describeSet ctx (objectsAt ctx s) |> Map.remove a
              add ctx Function.Count [ filters ctx d s ] |> ignore
              return $"How many other {nounPhrase ctx d true} have the same {an} as {text}?" })
          yield group, $"same_{an}_exist", (fun ctx -> option {
              let! s, text = same ctx
              let d = describeSet ctx (objectsAt ctx s) |> Map.remove a
              add ctx Function.Exist [ filters ctx d s ] |> ignore
              return $"Are there any other {nounPhrase ctx d true} that have the same {an} as {text}?" })
          for q in Attribute.all do
              if q <> a then
                  yield group, $"same_{an}_query_{Attribute.name q}", (fun ctx -> option {
                      let! s, text = same ctx
                      let candidates = objectsAt ctx s
                      let! target = randomObject ctx candidates
                      let! d = describeUniquely ctx candidates target [ a; q ]
                      add ctx (Query q) [ add ctx Unique [ filters ctx d s ] ] |> ignore
                      return queryText ctx q $"the other {nounPhrase ctx d false} that has the same {an} as {text}" }) ]

/// Is the object reached by `hx` hops the same in attribute `a` as the one reached by `hy`
/// hops? Neither description names `a`, and the two objects differ (CLEVR's constraints).
let private comparison a hx hy (ctx: Context) =
    let an = Attribute.name a
    option {
        let! x, xText = reference ctx hx [ a ]
        let qx = add ctx (Query a) [ x ]
        let! y, yText = reference ctx hy [ a ]
        let qy = add ctx (Query a) [ y ]
        let! ox = objectAt ctx x
        let! oy = objectAt ctx y
        if ox = oy then return! None
        else
            add ctx (EqualAttribute a) [ qx; qy ] |> ignore
            let verb = if a = Material then "made of the same material as" else $"the same {an} as"
            return capitalised $"is {xText} {verb} {yText}?"
    }

let private comparisonFamilies =
    [ for hops in [ 0; 1 ] do
          for a in Attribute.all ->
              TemplateGroup.Comparison, $"compare_{Attribute.name a}_{hops}hop", comparison a hops 0 ]

/// The relation on the second object, or on both.
let private comparisonRelatedFamilies =
    [ for hx, hy in [ 0, 1; 1, 1 ] do
          for a in Attribute.all ->
              TemplateGroup.Comparison, $"compare_{Attribute.name a}_{hx}{hy}hop", comparison a hx hy ]

/// How many things with the given value of `a` are one set or the other? The two sets differ
/// and their descriptions leave `a` out (CLEVR's constraints).
let private orFilteredFamilies =
    [ for a in Attribute.all ->
          SingleOr, $"single_or_filter_{Attribute.name a}_count", (fun ctx ->
              let s1 = add ctx Scene []
              let d1 = describeSet ctx (objectsAt ctx s1) |> Map.remove a
              let f1 = filters ctx d1 s1
              let s2 = add ctx Scene []
              let d2 = describeSet ctx (objectsAt ctx s2) |> Map.remove a
              let f2 = filters ctx d2 s2
              if objectsAt ctx f1 = objectsAt ctx f2 then None
              else
                  let either = add ctx Union [ f1; f2 ]
                  let value = pick ctx.Rng (Attribute.values a)
                  let only = Map.ofList [ a, value ]
                  add ctx Function.Count [ filters ctx only either ] |> ignore
                  let things = nounPhrase ctx only true
                  let eitherWord = word ctx [ ""; "either " ]
                  Some $"How many {things} are {eitherWord}{nounPhrase ctx d1 true} or {nounPhrase ctx d2 true}?") ]

let private integerFamilies =
    [ for hx, hy in [ 0, 0; 1, 0; 1, 1 ] do
          for f, name in [ EqualInteger, "equal"; LessThan, "less"; GreaterThan, "greater" ] ->
              CompareInteger, $"compare_integer_{name}_{hx}{hy}", (fun ctx -> option {
                  let! x, px, tx = objectSet ctx hx
                  let cx = add ctx Function.Count [ x ]
                  let! y, py, ty = objectSet ctx hy
                  let cy = add ctx Function.Count [ y ]
                  add ctx f [ cx; cy ] |> ignore
                  return
                      match f with
                      | EqualInteger -> $"Are there the same number of {px}{tx} and {py}{ty}?"
                      | LessThan -> $"Are there fewer {px}{tx} than {py}{ty}?"
                      | _ -> $"Are there more {px}{tx} than {py}{ty}?" }) ]

/// Every family, numbered in a fixed order.
let all: Family list =
    hopFamilies ZeroHop 0 @ hopFamilies OneHop 1 @ hopFamilies TwoHop 2 @ hopFamilies ThreeHop 3
    @ andFamilies @ orFamilies @ sameFamilies @ comparisonFamilies @ integerFamilies
    // Added later; appended so that the earlier families keep their indices.
    @ comparisonRelatedFamilies @ orFilteredFamilies
    |> List.mapi (fun i (group, name, sample) -> { Index = i; Group = group; Name = name; Sample = sample })

/// Samples one question of a family on a scene: program and text, or None.
let sample (family: Family) (rng: Random) (synonyms: bool) (scene: Scene) : (ProgramStep list * string) option =
    let ctx = { Rng = rng; Scene = scene; Synonyms = synonyms; Steps = ResizeArray() }
    family.Sample ctx |> Option.map (fun text -> List.ofSeq ctx.Steps, text)
