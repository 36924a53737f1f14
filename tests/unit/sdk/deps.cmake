# unit_sdk compiles its test plugins in directly and reaches them through descriptor functions,
# so it needs only the SDK headers.
target_link_libraries(unit_${area} PRIVATE vigil_sdk)
# template_test.cpp: <vigil/template.hpp> renders over nlohmann::json.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(unit_${area} PRIVATE nlohmann_json::nlohmann_json)
