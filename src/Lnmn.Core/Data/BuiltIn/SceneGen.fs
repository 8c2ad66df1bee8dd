/// Random scenes on the ground plane [-3, 3]² with CLEVR's attributes and relations.
module Lnmn.Core.Data.SceneGen

open System
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

let private pick (rng: Random) (xs: 'T list) = xs[rng.Next xs.Length]

/// Grid cell (column, row) of a ground-plane position; x → column, y → row (front = bottom).
let cellOf (gridSize: int) (x: float) (y: float) =
    let toCell v = min (gridSize - 1) (max 0 (int (floor ((v + 3.0) / 6.0 * float gridSize))))
    toCell x, toCell y

let cellCentre (gridSize: int) (cell: int) = -3.0 + (float cell + 0.5) * 6.0 / float gridSize

/// A scene with MinObjects–MaxObjects objects at least MinSpacing apart; None if the
/// placement keeps failing (the caller draws again).
let generate (options: BuiltInOptions) (rng: Random) (split: string) (imageIndex: int) : Scene option =
    let count = options.MinObjects + rng.Next(options.MaxObjects - options.MinObjects + 1)
    let placed = ResizeArray<float * float>()
    let mutable attempts = 0
    while placed.Count < count && attempts < 200 * count do
        attempts <- attempts + 1
        let x, y =
            if options.SnapToGrid then
                cellCentre options.GridSize (rng.Next options.GridSize), cellCentre options.GridSize (rng.Next options.GridSize)
            else rng.NextDouble() * 6.0 - 3.0, rng.NextDouble() * 6.0 - 3.0
        let farEnough = placed |> Seq.forall (fun (px, py) -> let d = sqrt ((px - x) * (px - x) + (py - y) * (py - y)) in d >= options.MinSpacing && d > 1e-9)
        if farEnough then placed.Add((x, y))
    if placed.Count < count then None
    else
        let objects =
            [| for x, y in placed ->
                   let size = pick rng (Attribute.values Size)
                   let column, row = cellOf options.GridSize x y
                   { Shape = pick rng (Attribute.values Shape)
                     Color = pick rng (Attribute.values Color)
                     Size = size
                     Material = pick rng (Attribute.values Material)
                     Coords = [| x; y; (if size = "large" then 0.7 else 0.35) |]
                     PixelCoords = [| float column; float row; 0.0 |]
                     Rotation = Math.Round(rng.NextDouble() * 360.0, 2) } |]
        Some
            { ImageIndex = imageIndex
              ImageFilename = $"CLEVR_{split}_{imageIndex:D6}.png"
              Split = split
              Objects = objects
              Relationships = relationships options.RelationThreshold objects }
