/// The built-in CLEVR-like dataset: scenes, questions with CLEVR programs and answers found by
/// executing them, and rendered feature maps, written in real CLEVR's formats.
module Lnmn.Core.Data.BuiltIn

open System
open System.Collections.Generic
open System.IO
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

/// The families the options allow.
let families (options: BuiltInOptions) =
    Templates.all
    |> List.filter (fun f -> List.contains f.Group options.Groups)
    |> List.filter (fun f -> match options.Families with Some keep -> List.contains f.Index keep | None -> true)

/// Keeps each family's answers near uniform: an answer is refused while its count would exceed
/// `tolerance` × the mean count over the answers the family has given so far, plus two. A yes/no
/// family counts both answers from its first question: otherwise one answer ran unchecked until the
/// other first appeared (a family whose "yes" is rare ended 22 "no" to 1 "yes").
type AnswerBalancer(tolerance: float) =
    let counts = Dictionary<int, Dictionary<string, int>>()
    member _.Accepts(family: int, answer: string) =
        match counts.TryGetValue family with
        | false, _ -> true
        | true, perAnswer ->
            let current = match perAnswer.TryGetValue answer with | true, n -> n | _ -> 0
            let both = if answer = "yes" || answer = "no" then [ "yes"; "no" ] else []
            let distinct = Seq.concat [ Seq.ofList (answer :: both); perAnswer.Keys ] |> Seq.distinct |> Seq.length
            let mean = float (Seq.sum perAnswer.Values) / float distinct
            float current < tolerance * mean + 2.0
    member _.Add(family: int, answer: string) =
        let perAnswer =
            match counts.TryGetValue family with
            | true, d -> d
            | _ ->
                let d = Dictionary()
                counts[family] <- d
                d
        perAnswer[answer] <- (match perAnswer.TryGetValue answer with | true, n -> n | _ -> 0) + 1

/// Deterministic across processes (HashCode.Combine is randomised per process).
let private splitSeed (seed: int) (split: string) = seed * 7919 + Seq.sumBy int split

/// Scenes are generated in chunks of this many, each from its own seed, so that a split is the same
/// however many cores generate it.
let chunkScenes = 500

/// Scenes `first` .. `first + count − 1` of a split with their questions (question indices start at
/// 0). Answers are balanced within the chunk.
let private generateChunk (options: BuiltInOptions) (split: string) (chosen: Templates.Family[]) (chunk: int) (first: int) (count: int) =
    let rng = Random(splitSeed options.Seed split + 104_729 * chunk)
    let balancer = AnswerBalancer options.BalanceTolerance
    let scenes = ResizeArray<Scene>()
    let questions = ResizeArray<Question>()
    while scenes.Count < count do
        match SceneGen.generate options rng split (first + scenes.Count) with
        | None -> ()
        | Some scene ->
            scenes.Add scene
            let texts = HashSet<string>()
            let mutable asked = 0
            let mutable attempts = 0
            while asked < options.QuestionsPerScene && attempts < 40 * options.QuestionsPerScene do
                attempts <- attempts + 1
                let family = chosen[rng.Next chosen.Length]
                // Retrying the same family keeps families equally frequent while answers are balanced.
                let mutable tries = 0
                let mutable accepted = false
                while not accepted && tries < 12 do
                    tries <- tries + 1
                    match Templates.sample family rng options.Synonyms scene with
                    | Some(program, text) when not (texts.Contains text) ->
                        match answer scene program with
                        | Ok a when balancer.Accepts(family.Index, a) ->
                            balancer.Add(family.Index, a)
                            texts.Add text |> ignore
                            questions.Add
                                { Index = questions.Count
                                  Text = text
                                  Answer = Some a
                                  ImageIndex = scene.ImageIndex
                                  ImageFilename = scene.ImageFilename
                                  Program = Some program
                                  FamilyIndex = Some family.Index
                                  Split = split }
                            asked <- asked + 1
                            accepted <- true
                        | _ -> ()
                    | _ -> ()
    scenes.ToArray(), questions.ToArray()

/// Scenes and questions of one split, in order; chunks run in parallel.
let generateSplit (options: BuiltInOptions) (split: string) (sceneCount: int) : Scene[] * Question[] =
    let chosen = families options |> Array.ofList
    if chosen.Length = 0 then invalidArg "options" "no question families selected"
    let chunks = (sceneCount + chunkScenes - 1) / chunkScenes
    let parts =
        Array.Parallel.init chunks (fun c ->
            let first = c * chunkScenes
            generateChunk options split chosen c first (min chunkScenes (sceneCount - first)))
    let scenes = parts |> Array.collect fst
    let questions = parts |> Array.collect snd |> Array.mapi (fun i q -> { q with Index = i })
    scenes, questions

/// Bumped whenever the generator makes different data for the same options (new families, new
/// rules), so `ensure` regenerates a dataset made by an older generator.
let generatorVersion = 4

/// What a built-in dataset is made from: with the same generator version, the same bytes anywhere.
type Recipe = { GeneratorVersion: int; Options: BuiltInOptions }

let recipe (options: BuiltInOptions) = { GeneratorVersion = generatorVersion; Options = options }

let optionsJson (options: BuiltInOptions) = Lnmn.Core.SpecJson.serialize (recipe options)

/// The recipe a dataset directory was generated from; None for data not made by this generator.
let readRecipe (dir: string) : Recipe option =
    let file = DatasetLayout.builtInOptionsFile dir
    if File.Exists file then Some(Lnmn.Core.SpecJson.deserialize<Recipe> (File.ReadAllText file)) else None

let private writeSplit (options: BuiltInOptions) (dir: string) (split: string) (sceneCount: int) =
    let scenes, questions = generateSplit options split sceneCount
    ClevrJson.writeScenes (DatasetLayout.scenesFile dir split) split scenes
    ClevrJson.writeQuestions (DatasetLayout.questionsFile dir split) split questions
    let g = options.GridSize
    Features.writeHdf5 (DatasetLayout.featureCandidates dir split).Head scenes.Length Render.channels g g 256 (fun start count ->
        Array.concat [ for i in start .. start + count - 1 -> Render.render g options.FeatureIntensity scenes[i] ])

/// Writes the dataset directory: questions, scenes and features for train and val, and the
/// options as JSON. Built under a temporary name and renamed, so it is all there or not at all.
let generate (options: BuiltInOptions) (dir: string) =
    let written: Result<unit, unit> =
        AtomicFile.writeDirectory dir (fun temporary ->
            for sub in [ "questions"; "scenes"; "features" ] do
                Directory.CreateDirectory(Path.Combine(temporary, sub)) |> ignore
            writeSplit options temporary "train" options.TrainScenes
            writeSplit options temporary "val" options.ValScenes
            File.WriteAllText(DatasetLayout.builtInOptionsFile temporary, optionsJson options)
            Ok())
    written |> ignore

/// Generates the dataset unless `dir` already holds one made with these options.
/// Returns true when it generated.
let ensure (options: BuiltInOptions) (dir: string) : bool =
    let file = DatasetLayout.builtInOptionsFile dir
    let current = File.Exists file && File.ReadAllText file = optionsJson options
    if not current then generate options dir
    not current
