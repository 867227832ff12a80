"""The box parser on canned answers of every grounding format, and the drawing checked pixel by pixel."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.imaging.boxes import annotate, box_style, colour, display_scale, draw_boxes
from contract.requests import Box
from models.grounding import MAX_BOXES, GroundingFormat, parse_boxes

F = GroundingFormat
SIZE = (640, 480)


# -- every format ------------------------------------------------------------------------------------


def test_qwen_vl_v1_ref_box_on_the_1000_grid():
    text = "<ref>the cat</ref><box>(100,200),(500,750)</box> and <ref>dog</ref><box>(0,0),(1000,1000)</box>"
    assert parse_boxes(text, F.REF_BOX_1000, SIZE) == [
        Box("the cat", 64, 96, 320, 360),
        Box("dog", 0, 0, 639, 479),  # the whole grid is the whole photo, clamped to its last pixel
    ]


def test_qwen2_vl_special_token_spelling_and_several_boxes_per_ref():
    text = (
        "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(10,20),(110,220)<|box_end|>"
        "<|box_start|>(500, 500), (600, 700)<|box_end|><|im_end|>"
    )
    assert parse_boxes(text, F.REF_BOX_1000, (1000, 1000)) == [
        Box("cat", 10, 20, 110, 220),
        Box("cat", 500, 500, 600, 700),
    ]


def test_ref_box_without_a_ref_takes_the_asked_label():
    assert parse_boxes("<box>(0,0),(500,500)</box>", F.REF_BOX_1000, (100, 100), default_label="cup") == [
        Box("cup", 0, 0, 50, 50)
    ]


def test_qwen2_5_vl_json_in_pixels_of_the_resized_input_is_scaled_back():
    # The processor resized the 640x480 photo to 644x476 (multiples of 28); Qwen2.5-VL answers in those pixels.
    text = '```json\n[\n  {"bbox_2d": [161, 119, 483, 357], "label": "cat"}\n]\n```'
    (box,) = parse_boxes(text, F.JSON_PIXELS, SIZE, model_size=(644, 476))
    assert box == Box("cat", round(161 * 640 / 644), 120, round(483 * 640 / 644), 360)


def test_qwen2_5_vl_json_several_objects_and_labels():
    text = '[{"bbox_2d": [0, 0, 10, 10], "label": "a"}, {"bbox_2d": [20, 20, 40, 40], "label": "b"}]'
    assert [b.label for b in parse_boxes(text, F.JSON_PIXELS, (100, 100), model_size=(100, 100))] == ["a", "b"]


def test_qwen3_vl_json_is_relative_to_1000():
    text = '[{"bbox_2d": [250, 500, 750, 1000], "label": "car"}]'
    assert parse_boxes(text, F.JSON_1000, SIZE) == [Box("car", 160, 240, 480, 479)]


def test_glm_boxes_between_its_markers():
    text = (
        "<think>Two boxes.</think><answer>The cats are at <|begin_of_box|>[[100,100,200,300],"
        "[600,500,900,1000]]<|end_of_box|></answer>"
    )
    assert parse_boxes(text, F.GLM_1000, (1000, 500), default_label="cat") == [
        Box("cat", 100, 50, 200, 150),
        Box("cat", 600, 250, 900, 499),
    ]


def test_glm_single_box_and_no_markers():
    assert parse_boxes("<|begin_of_box|>[10,20,30,40]<|end_of_box|>", F.GLM_1000, (1000, 1000)) == [
        Box("", 10, 20, 30, 40)
    ]
    assert parse_boxes("It is at [[10,20,30,40]].", F.GLM_1000, (1000, 1000)) == [Box("", 10, 20, 30, 40)]


# -- malformed, out of range, empty ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(F))
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "I don't see any cat.",
        "[]",
        "{}",
        "null",
        "<box>(1,2)</box>",
        '{"bbox_2d": [1, 2, 3]}',
        '[{"bbox_2d": "near the top"}]',
        "<|begin_of_box|><|end_of_box|>",
        '[{"bbox_2d": [1, 2, "x", 4]}]',
    ],
)
def test_no_box_in_the_answer_gives_none(fmt, text):
    assert parse_boxes(text, fmt, SIZE) == []


def test_truncated_json_keeps_the_complete_objects():
    text = '[{"bbox_2d": [0, 0, 100, 100], "label": "a"}, {"bbox_2d": [200, 200, 3'
    assert parse_boxes(text, F.JSON_1000, (1000, 1000)) == [Box("a", 0, 0, 100, 100)]


def test_swapped_corners_are_ordered():
    assert parse_boxes('[{"bbox_2d": [500, 800, 100, 200]}]', F.JSON_1000, (1000, 1000)) == [
        Box("", 100, 200, 500, 800)
    ]


def test_out_of_range_boxes_are_clamped_or_dropped():
    text = (
        '[{"bbox_2d": [-50, -10, 300, 2000], "label": "partly out"},'
        ' {"bbox_2d": [1200, 1200, 1500, 1500], "label": "all out"},'
        ' {"bbox_2d": [100, 100, 100, 400], "label": "no width"}]'
    )
    assert parse_boxes(text, F.JSON_1000, (1000, 1000)) == [Box("partly out", 0, 0, 300, 999)]


def test_numbers_as_strings_floats_and_non_finite():
    text = '[{"bbox_2d": ["10", 20.6, "30.2", 40]}, {"bbox_2d": [1e999, 0, 5, 5]}, {"bbox_2d": [true, 0, 5, 5]}]'
    assert parse_boxes(text, F.JSON_1000, (1000, 1000)) == [Box("", 10, 21, 30, 40)]


def test_duplicates_and_ramblings_are_limited():
    one = '{"bbox_2d": [1, 1, 50, 50]}'
    assert len(parse_boxes(f"[{one}, {one}]", F.JSON_1000, (1000, 1000))) == 1
    many = ", ".join(f'{{"bbox_2d": [{i}, 0, {i + 10}, 10]}}' for i in range(MAX_BOXES + 20))
    assert len(parse_boxes(f"[{many}]", F.JSON_1000, (1000, 1000))) == MAX_BOXES


def test_json_pixels_without_a_model_size_are_the_photos_pixels():
    assert parse_boxes('[{"bbox_2d": [10, 10, 20, 20]}]', F.JSON_PIXELS, (100, 100)) == [Box("", 10, 10, 20, 20)]


# -- drawing ---------------------------------------------------------------------------------------


GREY = (128, 128, 128)


def test_edges_are_drawn_in_the_box_colour_inside_the_box_and_the_inside_is_untouched():
    image = Image.new("RGB", (400, 300), GREY)
    boxes = [Box("cat", 50, 100, 200, 250), Box("dog", 250, 20, 390, 120)]
    drawn = draw_boxes(image, boxes)
    line, _ = box_style(image.size)
    assert image.getpixel((50, 150)) == GREY  # the original is not modified
    for index, box in enumerate(boxes):
        middle_y = (box.y1 + box.y2) // 2
        middle_x = (box.x1 + box.x2) // 2
        for x in (box.x1, box.x1 + line - 1, box.x2, box.x2 - line + 1):  # left and right edges, full width
            assert drawn.getpixel((x, middle_y)) == colour(index), (index, x)
        assert drawn.getpixel((middle_x, box.y2)) == colour(index)  # bottom edge
        assert drawn.getpixel((box.x1 + line, middle_y)) == GREY  # just inside the line
        assert drawn.getpixel((middle_x, middle_y)) == GREY  # the inside
        assert drawn.getpixel((box.x1 - 1, middle_y)) == GREY  # just outside


def test_labels_sit_above_the_box_or_inside_at_the_top_edge():
    image = Image.new("RGB", (400, 300), GREY)
    drawn = draw_boxes(image, [Box("cat", 50, 100, 200, 250), Box("top", 60, 0, 300, 80)])
    assert drawn.getpixel((52, 98)) != GREY  # label background right above box 1
    assert drawn.getpixel((62, 2)) != GREY  # box 2 touches the top: its label goes inside
    assert drawn.getpixel((52, 40)) == GREY  # nothing else drawn


def test_line_and_font_grow_with_the_photo():
    small_line, small_font = box_style((320, 240))
    big_line, big_font = box_style((4000, 3000))
    assert small_line >= 2 and small_font >= 12
    assert big_line >= 5 * small_line // 2 and big_font > 4 * small_font
    big = draw_boxes(Image.new("RGB", (4000, 3000), GREY), [Box("x", 1000, 1000, 3000, 2500)])
    assert big.getpixel((1000 + big_line - 1, 1800)) == colour(0)
    assert big.getpixel((1000 + big_line + 1, 1800)) == GREY


def test_annotate_scales_small_photos_up_and_huge_ones_down():
    assert display_scale((320, 240)) == 2.0
    assert display_scale((5120, 2000)) == 0.5
    assert display_scale((1000, 800)) == 1.0
    data = annotate(Image.new("RGB", (320, 240), GREY), [Box("cat", 10, 20, 100, 200)])
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (640, 480)
    edge = image.convert("RGB").getpixel((21, 220))  # x1=10 scaled by 2, plus a pixel into the line
    assert all(abs(a - b) < 40 for a, b in zip(edge, colour(0), strict=False)), edge


def test_no_boxes_draws_nothing():
    image = Image.new("RGB", (50, 40), GREY)
    assert draw_boxes(image, []).tobytes() == image.tobytes()
