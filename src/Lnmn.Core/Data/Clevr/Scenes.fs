/// Scenes (CLEVR's scenes JSON) and the execution of question programs on them.
module Lnmn.Core.Data.Scenes

open Lnmn.Core.Data.Clevr

type SceneObject =
    { Shape: string
      Color: string
      Size: string
      Material: string
      /// x, y, z on the ground plane (CLEVR: `3d_coords`).
      Coords: float[]
      PixelCoords: float[]
      Rotation: float }

type Scene =
    { ImageIndex: int
      ImageFilename: string
      Split: string
      Objects: SceneObject[]
      /// For each relation, entry i lists the objects in that relation to object i
      /// (`Left[i]` = objects left of object i).
      Relationships: Map<Relation, int list[]> }

module SceneObject =
    let attribute (a: Attribute) (o: SceneObject) =
        match a with Color -> o.Color | Shape -> o.Shape | Size -> o.Size | Material -> o.Material

/// CLEVR's rule: j is in relation R to i when (coords_j − coords_i) · direction_R > threshold.
/// Directions on the ground plane: right = +x, front = +y (towards the camera).
let relationships (threshold: float) (objects: SceneObject[]) : Map<Relation, int list[]> =
    let direction r = match r with Right -> (1.0, 0.0) | Left -> (-1.0, 0.0) | Front -> (0.0, 1.0) | Behind -> (0.0, -1.0)
    [ for r in Relation.all ->
        let dx, dy = direction r
        r,
        [| for i in 0 .. objects.Length - 1 ->
               [ for j in 0 .. objects.Length - 1 do
                     if j <> i then
                         let a, b = objects[i].Coords, objects[j].Coords
                         if (b[0] - a[0]) * dx + (b[1] - a[1]) * dy > threshold then yield j ] |] ]
    |> Map.ofList

/// What a program step produces.
type Value =
    | Objects of Set<int>
    | Object of int
    | Integer of int
    | Boolean of bool
    | Text of string

/// Runs a program on a scene with CLEVR's semantics. Error when a reference is not unique (the
/// question is ill-posed for this scene) or the program is malformed.
let execute (scene: Scene) (program: ProgramStep list) : Result<Value, string> =
    let steps = Array.ofList program
    let values = Array.zeroCreate<Value> steps.Length
    let objects (v: Value) = match v with Objects s -> Ok s | _ -> Error "expected a set of objects"
    let single (v: Value) = match v with Object o -> Ok o | _ -> Error "expected one object"
    let integer (v: Value) = match v with Integer n -> Ok n | _ -> Error "expected an integer"
    let text (v: Value) = match v with Text t -> Ok t | _ -> Error "expected an attribute value"
    let all = Set.ofList [ 0 .. scene.Objects.Length - 1 ]
    let map2 f a b = match a, b with Ok x, Ok y -> Ok(f x y) | Error e, _ | _, Error e -> Error e
    let run (i: int) (step: ProgramStep) : Result<Value, string> =
        let input k =
            match List.tryItem k step.Inputs with
            | Some j when j >= 0 && j < i -> Ok values[j]
            | _ -> Error $"step {i} ({Function.name step.Function}) has a bad input"
        let unary f = input 0 |> Result.bind f
        let binary f = match input 0, input 1 with Ok a, Ok b -> f a b | Error e, _ | _, Error e -> Error e
        let attr a o = SceneObject.attribute a scene.Objects[o]
        match step.Function with
        | Scene -> Ok(Objects all)
        | Filter(a, v) -> unary (objects >> Result.map (Set.filter (fun o -> attr a o = v) >> Objects))
        | Unique ->
            unary (objects >> Result.bind (fun s -> if s.Count = 1 then Ok(Object(Set.minElement s)) else Error $"unique: {s.Count} objects"))
        | Relate r -> unary (single >> Result.map (fun o -> Objects(Set.ofList (scene.Relationships[r]).[o])))
        | Union -> binary (fun a b -> map2 (fun x y -> Objects(Set.union x y)) (objects a) (objects b))
        | Intersect -> binary (fun a b -> map2 (fun x y -> Objects(Set.intersect x y)) (objects a) (objects b))
        | Function.Count -> unary (objects >> Result.map (fun s -> Integer s.Count))
        | Function.Exist -> unary (objects >> Result.map (fun s -> Boolean(not s.IsEmpty)))
        | Query a -> unary (single >> Result.map (fun o -> Text(attr a o)))
        | Same a -> unary (single >> Result.map (fun o -> Objects(all |> Set.filter (fun p -> p <> o && attr a p = attr a o))))
        | EqualAttribute _ -> binary (fun a b -> map2 (fun x y -> Boolean(x = y)) (text a) (text b))
        | EqualInteger -> binary (fun a b -> map2 (fun x y -> Boolean(x = y)) (integer a) (integer b))
        | LessThan -> binary (fun a b -> map2 (fun x y -> Boolean(x < y)) (integer a) (integer b))
        | GreaterThan -> binary (fun a b -> map2 (fun x y -> Boolean(x > y)) (integer a) (integer b))
    let rec go i =
        if i = steps.Length then
            if steps.Length = 0 then Error "empty program" else Ok values[steps.Length - 1]
        else
            match run i steps[i] with
            | Ok v ->
                values[i] <- v
                go (i + 1)
            | Error e -> Error e
    go 0

/// A value as a CLEVR answer string.
let answerOf (v: Value) =
    match v with
    | Integer n -> Ok(string n)
    | Boolean b -> Ok(if b then "yes" else "no")
    | Text t -> Ok t
    | Objects _ | Object _ -> Error "the program ends in objects, not an answer"

let answer scene program = execute scene program |> Result.bind answerOf
