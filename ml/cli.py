"""`python -m ml`: import FER2013, list models, train a recipe, evaluate a checkpoint or the whole photo path,
build the recipes table, read the emotions of the faces in a video."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load_store(path: str):
    from ml.data import FerStore

    return FerStore.load(path)


def run_train(args: argparse.Namespace) -> int:
    from ml.train import TrainConfig, fit

    config = TrainConfig.from_yaml(args.config)
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.limit is not None:
        overrides["limit"] = args.limit
    if args.device is not None:
        overrides["device"] = args.device
    if args.num_workers is not None:
        overrides["num_workers"] = args.num_workers
    if args.tensorboard:
        overrides["tensorboard"] = True
    if args.init_from is not None:
        overrides["init_from"] = args.init_from
        overrides["init_member"] = args.init_member
    elif args.init_member is not None:
        overrides["init_member"] = args.init_member
    if overrides:
        config = config.replace(**overrides)
    stores = [_load_store(path) for path in args.data]
    data = stores if len(stores) > 1 else stores[0]
    log = lambda line: print(line, flush=True)  # noqa: E731
    resume_dir = args.resume if args.resume is not None and Path(args.resume).is_dir() else None
    if config.init_from is not None and config.init_member is None and (args.resume is None or resume_dir):
        from ml.train.finetune import fine_tune, is_ensemble

        if is_ensemble(config.init_from):
            tuned = fine_tune(config, data, args.out, log=log, resume_dir=resume_dir)
            print(f"done: {len(tuned.members)} members fine-tuned; ensemble {tuned.checkpoint}")
            return 0
    result = fit(config, data, args.out, resume_from=args.resume, log=log)
    print(
        f"done: {result.stop_reason} after {result.epochs_run} epochs; best epoch {result.best_epoch}; "
        f"best checkpoint {result.best_checkpoint}; last {result.last_checkpoint}"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ml.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, _load_store(args.data), args.split, tta=args.tta, device=args.device,
                                  int8=not args.float)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    label_sets = [("FER2013 labels", metrics)]
    if "ferplus" in metrics:
        label_sets.append(("FER+ majority", metrics["ferplus"]))
    for title, scores in label_sets:
        print(f"{metrics['split']} ({metrics['precision']}), {title}: {scores['num_samples']:,} images, "
              f"accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f}, weighted F1 {scores['weighted_f1']:.4f}")
        print(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
        for name, row in scores["per_class"].items():
            print(f"{name:<10} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {row['support']:8d}")
    return 0


def run_evaluate_photos(args: argparse.Namespace) -> int:
    import shlex

    from ml import SHIPPED_CHECKPOINT
    from ml.inference.photo_eval import evaluate_photos, save_photo_evaluation

    def progress(done: int, total: int) -> None:
        if done % 250 == 0 or done == total:
            print(f"{done:,}/{total:,} photos", file=sys.stderr, flush=True)

    result = evaluate_photos(args.folder, args.checkpoint or SHIPPED_CHECKPOINT, progress=progress)
    result["command"] = f"python -m ml evaluate-photos {shlex.quote(args.folder)}" + (
        f" --checkpoint {shlex.quote(args.checkpoint)}" if args.checkpoint else "")
    saved = save_photo_evaluation(result) if args.save else None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_photo_report(result)
    if saved:
        print(f"saved as {result['set']!r} in {saved}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _print_photo_report(result: dict) -> None:
    print(f"{result['set']}: {result['num_photos']:,} photos scored ({result['labels_from']}), "
          f"{result['no_face']:,} with no face found, {len(result['skipped']):,} skipped; "
          f"{result['seconds']:.1f} s")
    ways = (("strict (no face is a miss)", result["strict"]),
            ("whole image where no face was found", result["whole_image_fallback"]))
    for title, metrics in ways:
        print(f"\n{title}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
              f"weighted F1 {metrics['weighted_f1']:.4f}")
        no_face = metrics.get("no_face_per_class")  # strict only: the photos of each class with no face found
        print(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"
              + (f" {'no face':>8}" if no_face else ""))
        for i, (name, row) in enumerate(metrics["per_class"].items()):
            print(f"{name:<10} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {row['support']:8d}"
                  + (f" {no_face[i]:8d}" if no_face else ""))
    for key, title in (("raters_top_vote", "against the raters' top vote instead of the label"),
                       ("raters_agree", "on the photos whose raters agree with the label")):
        if key in result:
            for way, metrics in result[key].items():
                print(f"\n{title} ({'strict' if way == 'strict' else 'whole image where no face was found'}): "
                      f"{metrics['num_samples']:,} photos, accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    if result["skipped"]:
        print(f"\nskipped {len(result['skipped']):,}:")
        for item in result["skipped"]:
            print(f"  {item['path']}: {item['reason']}")


def run_analyse_video(args: argparse.Namespace) -> int:
    from ml import SHIPPED_CHECKPOINT
    from ml.inference import EmotionPredictor
    from ml.video import NO_FACE, VideoError, analyse_video

    def progress(done: int, total: int) -> None:
        print(f"{done:,}/{total:,} frames", file=sys.stderr, flush=True)

    predictor = EmotionPredictor.from_checkpoint(args.checkpoint or SHIPPED_CHECKPOINT)
    try:
        analysis = analyse_video(args.video, predictor, fps=args.fps, max_seconds=args.max_seconds, progress=progress)
    except VideoError as exc:
        raise VideoError(f"{args.video}: {exc}") from None
    if args.csv:
        analysis.write_csv(args.csv)
    if args.json:
        Path(args.json).write_text(json.dumps(analysis.to_json(), indent=2) + "\n")
    print(f"{args.video}: {analysis.duration:.1f} s at {analysis.video_fps:g} fps, {analysis.width}x{analysis.height}; "
          f"{analysis.frames_done:,} frames sampled at {analysis.fps:g} fps; {len(analysis.faces)} faces")
    if not analysis.faces:
        print(NO_FACE)
    for face in analysis.faces:
        shares = sorted(face.emotion_shares().items(), key=lambda item: -item[1])
        top = ", ".join(f"{name} {share:.0%}" for name, share in shares if share > 0)
        print(f"face {face.track}: {face.frames[0].t:.2f}-{face.frames[-1].t:.2f} s, {len(face.frames)} frames: {top}")
    for path in (args.csv, args.json):
        if path:
            print(f"wrote {path}")
    return 0


def run_card(args: argparse.Namespace) -> int:
    from ml.model_card import build_model_card

    card = build_model_card(args.checkpoint, _load_store(args.data), command=args.made_with or "")
    if args.out:
        Path(args.out).write_text(card)
        print(f"wrote {args.out}")
    else:
        print(card)
    return 0


def run_recipes_command(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ml.recipes import RESULT_FILE, RecipeResult, results_table, run_recipes
    from ml.train import TrainConfig

    overrides = {key: value for key, value in (
        ("epochs", args.epochs), ("limit", args.limit), ("device", args.device)) if value is not None}
    configs = [TrainConfig.from_yaml(path) for path in args.configs]  # every config is checked before training
    configs = [config.replace(**overrides) if overrides else config for config in configs]
    store = _load_store(args.data)
    budget = args.budget_minutes * 60 if args.budget_minutes else None
    run_recipes(configs, store, args.out, tta_hflip=args.tta, budget_seconds=budget,
                log=lambda line: print(line, flush=True))
    finished = [RecipeResult.load(Path(args.out) / config.name / RESULT_FILE) for config in configs
                if (Path(args.out) / config.name / RESULT_FILE).exists()]
    table = results_table(finished)
    Path(args.out, "results.md").write_text(table + "\n")
    Path(args.out, "results.json").write_text(json.dumps([asdict(result) for result in finished], indent=2))
    print(table)
    missing = len(configs) - len(finished)
    if missing:
        print(f"{missing} of {len(configs)} recipes still to run: run the same command again to go on")
    return 0


def run_publish_recipes(args: argparse.Namespace) -> int:
    from ml.recipes import publish_results, results_table

    try:
        results = publish_results(args.source, args.target)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(results_table(results))
    return 0


def run_ensemble(args: argparse.Namespace) -> int:
    from ml.train.checkpoint import ensemble_payload, load_checkpoint, save_checkpoint

    members = [load_checkpoint(path) for path in args.members]  # every member is read before anything is written
    prior_correction = None
    if args.prior_correction is not None:
        prior_correction = _training_prior_correction(members, args.data, args.prior_correction, args.prior_from)
    payload = ensemble_payload(
        members, flip_tta=args.flip_tta, prior_correction=prior_correction,
        config={"name": args.name, "members": [m.get("config", {}).get("name", str(p)) for m, p in zip(members, args.members)],
                "flip_tta": args.flip_tta, "prior_correction": args.prior_correction,
                "prior_from": args.prior_from if args.prior_correction is not None else None},
        data_checksum=members[0].get("data_checksum"),
    )
    save_checkpoint(payload, args.out)
    tta = ", each also on the mirrored face" if args.flip_tta else ""
    prior = (f", divided by the training prior ({args.prior_from}) to the power {args.prior_correction:g}"
             if prior_correction else "")
    print(f"wrote {args.out}: {len(members)} members averaged{tta}{prior}")
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from ml.evaluate import evaluate_model
    from ml.inference.quantize import QuantizationUnavailable, calibration_faces, calibration_payload, quantize_model
    from ml.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(args.checkpoint)
    store = _load_store(args.data)
    class_names = checkpoint["class_names"]
    if list(class_names) != list(store.class_names):
        store = store.select_classes(class_names)
    faces = calibration_faces(*store.split("train"), count=args.faces)
    model = model_from_checkpoint(checkpoint)
    try:
        quantized = quantize_model(model, faces, model.preprocessing)
    except QuantizationUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # What int8 costs is measured, not assumed: both on PublicTest, where recipes are chosen.
    images, labels = store.split("public_test")
    for name, candidate in (("float", model), ("int8", quantized)):
        metrics = evaluate_model(candidate, images, labels, class_names, model.preprocessing)
        print(f"public_test, {name}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    checkpoint["int8_calibration"] = calibration_payload(faces)
    out = args.out or args.checkpoint
    save_checkpoint(checkpoint, out)
    print(f"wrote {out}: served int8 from now on, calibrated on {len(faces)} Training faces")
    return 0


def _training_prior_correction(members: list[dict], data: str | None, exponent: float,
                               prior_from: str = "fer2013") -> dict:
    """The members' Training split class frequencies, read from the store they were trained on: of its
    FER2013 labels, or (`ferplus`) the FER+ raters' mean vote distribution over its faces."""
    import numpy as np

    from ml.data import FerStore
    from ml.models.ensemble import training_prior_correction

    if data is None:
        raise ValueError("--prior-correction needs --data: the store the members were trained on")
    store = FerStore.load(data)
    trained_on = {m.get("data_checksum") for m in members} - {None}
    if trained_on and trained_on != {store.source_checksum}:
        raise ValueError(f"{data} is not the data the members were trained on (source checksums differ)")
    class_names = list(members[0]["class_names"])
    if class_names != list(store.class_names):
        store = store.select_classes(class_names)
    _, labels = store.split("train")
    if prior_from == "ferplus":
        from ml.data.ferplus import vote_distributions

        if store.votes is None:
            raise ValueError(f"--prior-from ferplus needs a store imported with --ferplus; {data} has no votes")
        distributions, usable = vote_distributions(store.split_votes("train"))
        correction = training_prior_correction(distributions[usable].sum(axis=0).tolist(), exponent)
        return {**correction, "labels": "ferplus"}
    return training_prior_correction(np.bincount(labels, minlength=len(class_names)).tolist(), exponent)


def run_models(args: argparse.Namespace) -> int:
    from ml.models import count_parameters, create_model, get_model_info, list_models

    for name in list_models():
        info = get_model_info(name)
        params = count_parameters(create_model(name))
        print(f"{name:<20} {params:>12,} params  input {info.preprocessing.input_size}px  {info.source}: {info.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ml.data.cli import add_import_parser, add_import_photos_parser, run_import

    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_import_parser(commands)
    commands.choices["import"].set_defaults(handler=run_import)
    add_import_photos_parser(commands)

    train = commands.add_parser("train", help="train a recipe from a YAML config")
    train.add_argument("--config", required=True, help="a YAML recipe, e.g. configs/seed002_cnn3.yaml")
    train.add_argument("--data", required=True, action="append",
                       help="a store written by `python -m ml import` or `import-photos`; repeat to train on several "
                            "(the first validates; a recipe's data_weights say how often each is drawn)")
    train.add_argument("--out", required=True, help="folder for best.pt, last.pt, config.yaml")
    train.add_argument("--epochs", type=int, help="override the config's epochs")
    train.add_argument("--limit", type=int, help="at most N images per split (a stratified sample)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"])
    train.add_argument("--num-workers", type=int)
    train.add_argument("--resume", help="a last.pt to continue from (an ensemble fine-tune: the --out folder it "
                       "stopped in, to go on member by member)")
    train.add_argument("--init-from", metavar="CHECKPOINT",
                       help="fine-tune: start from this checkpoint's weights (its architecture replaces the config's)")
    train.add_argument("--init-member", type=int, metavar="N", help="with --init-from an ensemble: start from member N")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard event files")
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser("evaluate", help="metrics of a checkpoint on one split")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="private_test", choices=["train", "public_test", "private_test"])
    evaluate.add_argument("--tta", action="store_true", help="average with the horizontally flipped image")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--float", action="store_true",
                          help="score the float model even where the checkpoint is served int8")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=run_evaluate)

    card = commands.add_parser("card", help="a Markdown model card: config, data checksum, test scores")
    card.add_argument("--checkpoint", required=True)
    card.add_argument("--data", required=True)
    card.add_argument("--out", help="write the card here instead of printing it")
    card.add_argument("--made-with", help="the training command, to record on the card")
    card.set_defaults(handler=run_card)

    photos = commands.add_parser(
        "evaluate-photos", help="score the whole upload path (detect, crop, classify) on a labelled photo folder",
        description="Run every photo of FOLDER through the upload path and score the largest face two ways: "
        "strict (no face found is a miss) and with the whole image as the face where none was found. FOLDER "
        "holds <class>/<image> sub-folders or a labels.csv with a path,label header (it wins when both are "
        "there); labels are FER2013 class names in any case. Unreadable photos are skipped and listed.",
    )
    photos.add_argument("folder", help="a labelled photo folder, e.g. ../shared/devsets/twpfe")
    photos.add_argument("--checkpoint", help="the model to score (default: the shipped ml/weights/default.pt)")
    photos.add_argument("--json", action="store_true", help="print the whole result as JSON")
    photos.add_argument("--save", action="store_true", help="merge the result into photo_eval.json beside "
                        "the checkpoint, under the folder's name, for its model card and run page")
    photos.set_defaults(handler=run_evaluate_photos)

    video = commands.add_parser(
        "analyse-video", help="the emotion of every face through a video: a summary, CSV and JSON",
        description="Sample VIDEO (MP4, MOV, WebM, AVI) FPS times a second, find and classify every face as "
        "the photo path does, and follow each face from frame to frame. Prints each face's share of time per "
        "emotion; --csv writes one row per face per sampled frame, --json the API's result.",
    )
    video.add_argument("video", help="a video file")
    video.add_argument("--checkpoint", help="the model (default: the shipped ml/weights/default.pt)")
    video.add_argument("--fps", type=float, default=4.0, help="frames sampled per second, at most the video's own "
                       "(default 4)")
    video.add_argument("--max-seconds", type=float, default=600, help="refuse longer videos (default 600)")
    video.add_argument("--csv", help="write the per-frame table here")
    video.add_argument("--json", help="write the result here, as the API answers it")
    video.set_defaults(handler=run_analyse_video)

    ensemble = commands.add_parser(
        "ensemble", help="combine trained checkpoints into one that averages their probabilities",
        description="Write one checkpoint that serves MEMBERS as one model: one batch through every member, "
        "probabilities averaged. Members must share classes and preprocessing.",
    )
    ensemble.add_argument("members", nargs="+", help="trained checkpoints (best.pt files)")
    ensemble.add_argument("--out", required=True, help="the ensemble checkpoint to write")
    ensemble.add_argument("--flip-tta", action="store_true", help="each member also sees the mirrored face")
    ensemble.add_argument("--name", default="ensemble", help="the ensemble's name on its model card")
    ensemble.add_argument("--prior-correction", type=float, metavar="EXPONENT",
                          help="divide the averaged probabilities by the training class frequencies to this power "
                               "(0-1; choose it on PublicTest with bench/prior_sweep.py)")
    ensemble.add_argument("--prior-from", choices=["fer2013", "ferplus"], default="fer2013",
                          help="the prior divided by: FER2013's Training label frequencies (default), or the FER+ "
                               "raters' mean vote distribution over Training (for members that learned FER+ targets)")
    ensemble.add_argument("--data", help="the FER2013 store the members were trained on (for --prior-correction)")
    ensemble.set_defaults(handler=run_ensemble)

    from ml.inference.quantize import DEFAULT_CALIBRATION_FACES

    quantize = commands.add_parser(
        "quantize", help="serve a checkpoint with int8 weights and activations on x86 CPUs",
        description="Store a few hundred FER2013 Training faces in CHECKPOINT, from which the upload path "
        "calibrates an int8 copy of the model when it loads it (ml/inference/quantize.py). Prints PublicTest "
        "accuracy in float and int8 so the cost is seen before the file is written.",
    )
    quantize.add_argument("checkpoint", help="a trained or ensemble checkpoint")
    quantize.add_argument("--data", required=True, help="the FER2013 store the model was trained on")
    quantize.add_argument("--faces", type=int, default=DEFAULT_CALIBRATION_FACES,
                          help=f"calibration faces, the same share of every class (default {DEFAULT_CALIBRATION_FACES})")
    quantize.add_argument("--out", help="where to write it (default: CHECKPOINT itself)")
    quantize.set_defaults(handler=run_quantize)

    recipes = commands.add_parser(
        "recipes", help="train recipes one after another, evaluate each on PrivateTest once, print the table",
        description="Train each recipe into OUT/<name>/, evaluate its best checkpoint (by PublicTest) on "
        "PrivateTest once and print the results table (also OUT/results.md). Finished recipes are skipped and "
        "interrupted ones resume, so the same command can be run again until the table is complete.",
    )
    recipes.add_argument("configs", nargs="+", help="YAML recipes, e.g. configs/seed*.yaml")
    recipes.add_argument("--data", required=True, help="a store written by `python -m ml import`")
    recipes.add_argument("--out", required=True, help="folder with one subfolder per recipe")
    recipes.add_argument("--budget-minutes", type=float, help="stop cleanly after this long; run again to go on")
    recipes.add_argument("--tta", action="store_true", help="evaluate with the horizontally flipped image too")
    recipes.add_argument("--epochs", type=int, help="override every recipe's epochs (quick trials)")
    recipes.add_argument("--limit", type=int, help="at most N images per split (quick trials)")
    recipes.add_argument("--device", choices=["auto", "cpu", "cuda"])
    recipes.set_defaults(handler=run_recipes_command)

    publish = commands.add_parser(
        "publish-recipes", help="copy finished recipes into a folder to commit (no checkpoint over 10 MB)",
        description="Copy every finished recipe of SOURCE (a `recipes --out` folder) into TARGET with its config, "
        "curves and evaluations, and rewrite TARGET/results.md and results.json to list every recipe there.",
    )
    publish.add_argument("source", help="a folder written by `python -m ml recipes --out`")
    publish.add_argument("target", nargs="?", default="results/recipes", help="default: results/recipes")
    publish.set_defaults(handler=run_publish_recipes)

    models = commands.add_parser("models", help="list the registered architectures")
    models.set_defaults(handler=run_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ml.data import DataImportError
    from ml.inference.photo_eval import PhotoFolderError
    from ml.train import CheckpointError, ConfigError, NonFiniteLossError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (DataImportError, ConfigError, CheckpointError, NonFiniteLossError, PhotoFolderError, FileNotFoundError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
